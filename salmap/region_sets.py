"""Named regions as data: the one format of ``salmap attention --regions``, the API's
``regions`` field and the page's region list and export.

A region set is a JSON object::

    {"units": "px", "size": [1200, 800],
     "regions": [{"name": "logo", "box": [x0, y0, x1, y1]},
                 {"name": "cta", "polygon": [[x, y], [x, y], [x, y]]}]}

``units`` is ``"px"`` (pixels of the image as shown, EXIF orientation applied; x1 and y1
exclusive) or ``"fraction"`` (of the image's width and height, 0-1). ``size`` = [width, height]
is the image a pixel set was drawn on (optional): applied to an image of another size, the set
is scaled to it and says so in a note. A set in fractions fits every image; that is what makes
it a template for the variants of a design. The older form ``{"logo": [x0, y0, x1, y1], ...}``
(pixels) is still read; only the form above is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from salmap.errors import SalmapError

UNITS = ("px", "fraction")
_EXAMPLE = (
    '{"units": "px", "regions": [{"name": "logo", "box": [x0, y0, x1, y1]}, '
    '{"name": "cta", "polygon": [[x, y], [x, y], [x, y]]}]}'
)


@dataclass(frozen=True)
class Shape:
    """One named region: a ``box`` (x0, y0, x1, y1) or a ``polygon`` ((x, y), ...)."""

    name: str
    kind: str  # "box" or "polygon"
    points: tuple  # box: 4 numbers; polygon: at least 3 (x, y) pairs

    def to_dict(self) -> dict:
        value = list(self.points) if self.kind == "box" else [list(p) for p in self.points]
        return {"name": self.name, self.kind: value}

    def scaled(self, sx: float, sy: float) -> Shape:
        if self.kind == "box":
            x0, y0, x1, y1 = self.points
            return Shape(self.name, "box", (x0 * sx, y0 * sy, x1 * sx, y1 * sy))
        return Shape(self.name, "polygon", tuple((x * sx, y * sy) for x, y in self.points))


@dataclass(frozen=True)
class RegionSet:
    """Named shapes in ``units`` (``"px"`` or ``"fraction"``); ``size`` = (width, height) of
    the image a pixel set was drawn on, or None when unknown."""

    shapes: tuple[Shape, ...]
    units: str = "px"
    size: tuple[int, int] | None = None

    def to_dict(self) -> dict:
        """The set as written: ``{"units", "size" (pixel sets that know it), "regions"}``."""
        out: dict = {"units": self.units}
        if self.units == "px" and self.size is not None:
            out["size"] = list(self.size)
        out["regions"] = [s.to_dict() for s in self.shapes]
        return out

    def in_pixels(self, shape: tuple[int, int]) -> tuple[RegionSet, str | None]:
        """The set in pixels of an image of ``shape`` = (H, W), and a note when a pixel set
        drawn on another size was scaled to it (None otherwise)."""
        height, width = shape
        if self.units == "fraction":
            sx, sy, note = width, height, None
        elif self.size is None or tuple(self.size) == (width, height):
            return RegionSet(self.shapes, "px", self.size or (width, height)), None
        else:
            (w0, h0), sx, sy = self.size, width / self.size[0], height / self.size[1]
            note = (
                f"regions drawn on a {w0}x{h0} image were scaled to this {width}x{height} "
                f"image (x{sx:.3g} wide, x{sy:.3g} high)"
            )
            if not math.isclose(sx, sy, rel_tol=0.01):
                note += "; the aspect ratios differ, so the regions are stretched"
        shapes = tuple(s.scaled(sx, sy) for s in self.shapes)
        return RegionSet(shapes, "px", (width, height)), note


def is_region_set(spec) -> bool:
    """Whether a parsed JSON value is in the current form (not the older ``{name: box}``)."""
    return isinstance(spec, dict) and isinstance(spec.get("regions"), list) and "units" in spec


def region_set(spec, source: str | None = None) -> RegionSet:
    """A :class:`RegionSet` from parsed JSON, in the current form or the older ``{name: box
    | polygon}`` (pixels); errors start with ``source`` (a file name) when given."""
    try:
        if is_region_set(spec):
            return _current_form(spec)
        if isinstance(spec, dict) and spec and "regions" not in spec and "units" not in spec:
            return RegionSet(tuple(_shape(name, value) for name, value in spec.items()))
        raise SalmapError(f"expected named regions, e.g. {_EXAMPLE}")
    except SalmapError as e:
        raise SalmapError(f"{source}: {e}" if source else str(e)) from None


def _current_form(spec: dict) -> RegionSet:
    units = spec["units"]
    if units not in UNITS:
        raise SalmapError(f"units is {units!r}; use 'px' or 'fraction'")
    size = spec.get("size")
    if size is not None:
        if not (
            isinstance(size, list)
            and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise SalmapError(f"size is {size!r}; it is [width, height] in whole pixels")
        size = tuple(size)
    shapes = []
    for i, entry in enumerate(spec["regions"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SalmapError(f"region {i + 1} is {entry!r}; each needs a 'name' and a 'box'")
        kinds = [k for k in ("box", "polygon") if k in entry]
        if len(kinds) != 1:
            raise SalmapError(f"region {entry['name']!r} needs one of 'box' or 'polygon'")
        shapes.append(_shape(entry["name"], entry[kinds[0]], kinds[0]))
    if not shapes:
        raise SalmapError("the region list is empty")
    names = [s.name for s in shapes]
    if len(set(names)) != len(names):
        raise SalmapError(f"region names must be unique: {names}")
    result = RegionSet(tuple(shapes), units, size)
    if units == "fraction":
        _check_fractions(result)
    return result


def _shape(name, value, kind: str | None = None) -> Shape:
    """One shape; with ``kind`` None (the older form) a list of pairs is a polygon."""
    name = str(name).strip()
    if not name:
        raise SalmapError("a region has an empty name")
    if kind is None:
        pairs = isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple))
        kind = "polygon" if pairs else "box"
    try:
        if kind == "box":
            points = tuple(_number(v) for v in value)
            ok = len(points) == 4
        else:
            points = tuple((_number(x), _number(y)) for x, y in value)
            ok = len(points) >= 3
    except (TypeError, ValueError):
        ok = False
    if not ok:
        wanted = "[x0, y0, x1, y1]" if kind == "box" else "a list of at least 3 [x, y] points"
        raise SalmapError(f"region {name!r}: a {kind} is {wanted}, got {value!r}")
    return Shape(name, kind, points)


def _number(v) -> float | int:
    """A coordinate as given (whole numbers stay whole, so that messages show them so)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(v)
    if not math.isfinite(v):
        raise ValueError(v)
    return v


def _check_fractions(regions: RegionSet) -> None:
    for s in regions.shapes:
        values = s.points if s.kind == "box" else [v for p in s.points for v in p]
        if not all(0 <= v <= 1 for v in values):
            raise SalmapError(
                f"region {s.name!r}: {s.kind} {s.to_dict()[s.kind]} is in fractions, "
                "which lie between 0 and 1"
            )
