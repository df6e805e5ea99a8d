"""Attention per region: the share of a saliency density that falls in each region of an image.

Regions are named boxes ``[x0, y0, x1, y1]`` (image pixels, x1 and y1 exclusive) and polygons
``[[x, y], [x, y], ...]`` (at least three vertices), in pixels or fractions of the image, as
:mod:`salmap.region_sets` reads and writes them; the labels of a label image the size of the
image; or the cells of an R x C grid. A pixel belongs to a region
when its centre lies inside it. Regions may overlap (the overlaps are reported); a region
reaching outside the image is an error naming it.

Besides the shares, one number says how concentrated the map is: the fraction of the image,
taking its most attended pixels first, that holds half of the attention (:data:`CONCENTRATION_MASS`).
A uniform map gives 0.5; a map whose attention sits on a few pixels gives close to 0.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from salmap.errors import DataError, SalmapError

# The concentration number is the fraction of the image needed to hold this share of attention.
CONCENTRATION_MASS = 0.5

# Of two or more images, one leads on a share (0-1: of attention, of area) only when it is
# ahead of every other by more than this; smaller differences are reported as even.
SHARE_TOLERANCE = 0.02

_GRID = re.compile(r"^\s*(?:grid\s+)?(\d+)\s*[xX]\s*(\d+)\s*$")


@dataclass(frozen=True)
class Region:
    """A named region: the pixels of ``mask`` (a bool array) placed with its top-left pixel at
    ``origin`` = (row, column) of the image; a whole-image mask has origin (0, 0)."""

    name: str
    mask: np.ndarray = field(repr=False)
    origin: tuple[int, int] = (0, 0)

    @property
    def window(self) -> tuple[slice, slice]:
        """The rows and columns of the image that ``mask`` covers."""
        (r, c), (h, w) = self.origin, self.mask.shape
        return slice(r, r + h), slice(c, c + w)

    def part(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """The mask over image rows r0:r1 and columns c0:c1, which must lie in its window."""
        r, c = self.origin
        return self.mask[r0 - r : r1 - r, c0 - c : c1 - c]


@dataclass(frozen=True)
class Share:
    name: str
    attention: float  # share of the attention inside the region, 0-1
    area: float  # share of the image's pixels inside the region, 0-1


@dataclass(frozen=True)
class Overlap:
    regions: tuple[str, str]
    attention: float  # share of the attention in the pixels both regions hold
    area: float


@dataclass(frozen=True)
class AttentionShares:
    """What :func:`attention_shares` finds: a :class:`Share` per region, in the order given;
    ``outside``, the attention (and area) in no region; every overlapping pair; the
    concentration (fraction of the image holding half of the attention); and ``note``, how
    regions drawn on another image size were scaled to this one (None when they were not)."""

    width: int
    height: int
    regions: list[Share]
    outside: Share
    overlaps: list[Overlap]
    concentration: float
    note: str | None = None

    def to_dict(self) -> dict:
        def r(v: float) -> float:
            return round(float(v), 6)

        return {
            "width": self.width,
            "height": self.height,
            "regions": {
                s.name: {"attention": r(s.attention), "area": r(s.area)} for s in self.regions
            },
            "outside": {"attention": r(self.outside.attention), "area": r(self.outside.area)},
            "overlaps": [
                {"regions": list(o.regions), "attention": r(o.attention), "area": r(o.area)}
                for o in self.overlaps
            ],
            "concentration": r(self.concentration),
            "note": self.note,
        }

    def table(self) -> str:
        """A plain-text table: region, attention %, area %, then outside and concentration."""
        rows = [(s.name, s.attention, s.area) for s in self.regions]
        rows.append(("(outside all regions)", self.outside.attention, self.outside.area))
        width = max(len("region"), *(len(n) for n, _, _ in rows))
        lines = [f"note: {self.note}"] if self.note else []
        lines += [f"{'region':<{width}}  attention    area", "-" * (width + 20)]
        lines += [f"{n:<{width}}  {a:8.1%}  {s:6.1%}" for n, a, s in rows]
        for o in self.overlaps:
            lines.append(
                f"overlap: {o.regions[0]} and {o.regions[1]} share {o.area:.1%} of the image "
                f"holding {o.attention:.1%} of the attention (counted in both)"
            )
        lines.append(
            f"concentration: {self.concentration:.1%} of the image holds "
            f"{CONCENTRATION_MASS:.0%} of the attention (uniform: 50%)"
        )
        return "\n".join(lines)


def concentration(density, mass: float = CONCENTRATION_MASS) -> float:
    """Fraction of the image's pixels, most attended first, needed to hold ``mass`` of the
    density's total (0-1): 0.5 for a uniform map at ``mass`` = 0.5, near 0 for a peaked one."""
    from salmap.cropping import check_map

    m = check_map(density, "density").ravel()
    total = float(m.sum())
    if total <= 0:
        return float(mass)  # no mass: read as uniform
    cum = np.cumsum(np.sort(m)[::-1])
    n = int(np.searchsorted(cum, mass * total * (1 - 1e-12))) + 1
    return min(n, m.size) / m.size


def box_region(name: str, box, shape: tuple[int, int]) -> Region:
    """A box ``[x0, y0, x1, y1]`` (pixels, x1 and y1 exclusive; fractions allowed) as a mask."""
    height, width = shape
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise SalmapError(f"region {name!r}: a box is [x0, y0, x1, y1], got {box!r}") from None
    if not np.isfinite([x0, y0, x1, y1]).all() or x1 <= x0 or y1 <= y0:
        raise SalmapError(f"region {name!r}: box {box!r} needs x0 < x1 and y0 < y1")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise SalmapError(
            f"region {name!r}: box {box!r} reaches outside the {width}x{height} image"
        )
    # pixel i is inside when its centre i + 0.5 is in [x0, x1)
    c0, c1 = int(np.ceil(x0 - 0.5)), int(np.ceil(x1 - 0.5))
    r0, r1 = int(np.ceil(y0 - 0.5)), int(np.ceil(y1 - 0.5))
    return _nonempty(Region(name, np.ones((max(0, r1 - r0), max(0, c1 - c0)), bool), (r0, c0)))


def polygon_region(name: str, points, shape: tuple[int, int]) -> Region:
    """A polygon ``[[x, y], ...]`` (pixel coordinates, at least 3 vertices) as a mask of the
    pixels whose centres lie inside it."""
    from matplotlib.path import Path as MplPath

    height, width = shape
    try:
        p = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        p = None
    if p is None or p.ndim != 2 or p.shape[1] != 2 or len(p) < 3 or not np.isfinite(p).all():
        raise SalmapError(
            f"region {name!r}: a polygon is a list of at least 3 [x, y] points, got {points!r}"
        )
    if p.min() < 0 or p[:, 0].max() > width or p[:, 1].max() > height:
        raise SalmapError(f"region {name!r}: polygon reaches outside the {width}x{height} image")
    c0, r0 = int(np.floor(p[:, 0].min())), int(np.floor(p[:, 1].min()))
    c1, r1 = min(width, int(np.ceil(p[:, 0].max()))), min(height, int(np.ceil(p[:, 1].max())))
    yy, xx = np.mgrid[r0:r1, c0:c1]
    centres = np.column_stack([xx.ravel() + 0.5, yy.ravel() + 0.5])
    mask = MplPath(p).contains_points(centres).reshape(yy.shape)
    return _nonempty(Region(name, mask, (r0, c0)))


def _nonempty(region: Region) -> Region:
    if not region.mask.any():
        raise SalmapError(f"region {region.name!r} covers no pixel's centre")
    return region


def grid_regions(rows: int, cols: int, shape: tuple[int, int]) -> list[Region]:
    """The cells of a ``rows`` x ``cols`` grid, named ``r1c1`` ... (row first), boundaries
    rounded to the nearest pixel."""
    height, width = shape
    if rows < 1 or cols < 1:
        raise SalmapError(f"a grid needs at least one row and one column, got {rows}x{cols}")
    if rows > height or cols > width:
        raise SalmapError(
            f"a {rows}x{cols} grid has more cells than the {width}x{height} image has pixels"
        )
    ys = np.round(np.linspace(0, height, rows + 1)).astype(int)
    xs = np.round(np.linspace(0, width, cols + 1)).astype(int)
    return [
        box_region(f"r{i + 1}c{j + 1}", (xs[j], ys[i], xs[j + 1], ys[i + 1]), shape)
        for i in range(rows)
        for j in range(cols)
    ]


def parse_grid(text: str) -> tuple[int, int]:
    """``"3x3"`` or ``"grid 3x3"`` -> (rows, columns)."""
    m = _GRID.match(str(text))
    if not m:
        raise SalmapError(f"grid {text!r} is not of the form RxC (e.g. 3x3)")
    return int(m.group(1)), int(m.group(2))


def named_regions(spec, shape: tuple[int, int], source: str | None = None) -> list[Region]:
    """Named boxes and polygons (:mod:`salmap.region_sets`' format or the older ``{"name":
    [x0, y0, x1, y1] | [[x, y], ...]}``) -> regions, in the order given."""
    return resolve_named(spec, shape, source)[0]


def resolve_named(spec, shape: tuple[int, int], source: str | None = None):
    """(regions, note): the regions of ``spec`` (parsed JSON or a
    :class:`~salmap.region_sets.RegionSet`) on an image of ``shape``, and the note a pixel set
    drawn on another size gives when it is scaled (None otherwise)."""
    from salmap.region_sets import RegionSet, region_set

    regions_set = spec if isinstance(spec, RegionSet) else region_set(spec, source)
    pixels, note = regions_set.in_pixels(shape)
    regions = []
    for s in pixels.shapes:
        make = polygon_region if s.kind == "polygon" else box_region
        try:
            regions.append(make(s.name, s.to_dict()[s.kind], shape))
        except SalmapError as e:
            if source is None:  # a dict given in Python: no file to name
                raise
            raise type(e)(f"{source}: {e}") from None
    return regions, note


def label_regions(path: str | Path, shape: tuple[int, int]) -> list[Region]:
    """A label image the size of the image: each non-zero value (grayscale, 16-bit or
    palette index) is a region named by its value; in a colour image each colour other than
    black is a region named ``#rrggbb``. Zero / black is outside all regions."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            mode, size = im.mode, im.size
            if mode in ("RGB", "RGBA"):
                a = np.asarray(im.convert("RGB")).astype(np.int64)
                a = (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]
            elif mode in ("1", "L", "P", "I", "I;16", "I;16B", "I;16L"):
                a = np.asarray(im).astype(np.int64)
            else:
                raise SalmapError(
                    f"{path}: label images must be grayscale, palette or RGB, not {mode}"
                )
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot be read as a label image ({e})") from None
    if (size[1], size[0]) != tuple(shape):
        raise SalmapError(
            f"{path}: the label image is {size[0]}x{size[1]} but the image is {shape[1]}x{shape[0]}"
        )
    colour = mode in ("RGB", "RGBA")
    values = [int(v) for v in np.unique(a) if v != 0]
    if not values:
        raise SalmapError(f"{path}: the label image has no non-zero label")
    regions = []
    for v in values:
        rows, cols = np.nonzero(a == v)
        r0, c0 = int(rows.min()), int(cols.min())
        mask = a[r0 : rows.max() + 1, c0 : cols.max() + 1] == v
        regions.append(Region(f"#{v:06x}" if colour else str(v), mask, (r0, c0)))
    return regions


def load_regions(source, shape: tuple[int, int]) -> list[Region]:
    """Regions from any accepted form, checked against an image of ``shape`` = (H, W): named
    boxes and polygons (:mod:`salmap.region_sets`: a dict, a
    :class:`~salmap.region_sets.RegionSet` or a ``.json`` file of one), a label image,
    ``"grid RxC"`` or ``"RxC"``, or a list of :class:`Region`."""
    return resolve_regions(source, shape)[0]


def resolve_regions(source, shape: tuple[int, int]) -> tuple[list[Region], str | None]:
    """(regions, note) for any form :func:`load_regions` takes: the note says how a pixel
    region set drawn on another image size was scaled to this one (None when it was not)."""
    from salmap.region_sets import RegionSet

    if isinstance(source, (dict, RegionSet)):
        return resolve_named(source, shape)
    if isinstance(source, (list, tuple)) and all(isinstance(r, Region) for r in source):
        return _check_masks(list(source), shape), None
    text = str(source)
    if _GRID.match(text) and (text.lstrip().startswith("grid") or not Path(text).exists()):
        return grid_regions(*parse_grid(text), shape), None
    path = Path(text)
    if not path.is_file():
        raise SalmapError(f"{path}: no such regions file (a .json of named regions or a label PNG)")
    if path.suffix.lower() == ".json":
        return resolve_named(read_json(path), shape, str(path))
    return label_regions(path, shape), None


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not readable as JSON ({e})") from None


def _check_masks(regions: list[Region], shape) -> list[Region]:
    for r in regions:
        (r0, c0), (h, w) = r.origin, np.shape(r.mask)
        if r0 < 0 or c0 < 0 or r0 + h > shape[0] or c0 + w > shape[1]:
            raise SalmapError(
                f"region {r.name!r}: its mask reaches outside the {shape[1]}x{shape[0]} image"
            )
    return regions


def attention_shares(density, regions, shape_name: str = "density") -> AttentionShares:
    """The share of ``density`` (H x W, any non-negative scale) in each region (any form
    :func:`load_regions` takes), outside all of them, in each overlap, and the concentration."""
    from salmap.cropping import check_map

    m = check_map(density, shape_name)
    shape = m.shape
    regions, note = resolve_regions(regions, shape)
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise SalmapError(f"region names must be unique: {names}")
    total = float(m.sum())
    if total <= 0:
        m, total = np.ones_like(m), float(m.size)
    n = m.size

    def share(values: np.ndarray, mask: np.ndarray, name: str) -> Share:
        return Share(name, float(values[mask].sum()) / total, float(mask.sum()) / n)

    # how many regions hold each pixel: the outside is 0, overlaps are above 1
    cover = np.zeros(shape, dtype=np.int32)
    for r in regions:
        cover[r.window] += r.mask
    return AttentionShares(
        width=shape[1],
        height=shape[0],
        regions=[share(m[r.window], r.mask, r.name) for r in regions],
        outside=share(m, cover == 0, "(outside)"),
        overlaps=_overlaps(m, regions, cover, share),
        concentration=concentration(m),
        note=note,
    )


def _overlaps(m, regions: list[Region], cover: np.ndarray, share) -> list[Overlap]:
    """Every pair of regions sharing pixels, with the share of attention in those pixels.
    Only regions holding a pixel that more than one region holds are compared, pair by pair
    on the intersection of their windows, so that a fine grid costs nothing here."""
    shared = [r for r in regions if (cover[r.window][r.mask] > 1).any()]
    overlaps = []
    for i, a in enumerate(shared):
        for b in shared[i + 1 :]:
            r0, c0 = max(a.origin[0], b.origin[0]), max(a.origin[1], b.origin[1])
            r1 = min(a.origin[0] + a.mask.shape[0], b.origin[0] + b.mask.shape[0])
            c1 = min(a.origin[1] + a.mask.shape[1], b.origin[1] + b.mask.shape[1])
            if r1 <= r0 or c1 <= c0:
                continue

            both = a.part(r0, r1, c0, c1) & b.part(r0, r1, c0, c1)
            if both.any():
                s = share(m[r0:r1, c0:c1], both, "")
                overlaps.append(Overlap((a.name, b.name), s.attention, s.area))
    return overlaps


def attention(image, regions="3x3", model=None, **page) -> AttentionShares:
    """The share of ``model``'s predicted attention on ``image`` (path, PIL image or array)
    in each of ``regions`` (named boxes/polygons as a dict or .json, a label image, or
    ``"RxC"`` for a grid); ``model`` as :func:`salmap.cropping.predictor` takes it;
    ``page``: ``long_page`` and ``viewport`` as :func:`salmap.inference.predict_images`
    takes them."""
    from salmap.cropping import predictor
    from salmap.data.images import to_rgb_array

    rgb = to_rgb_array(image)
    resolved, note = resolve_regions(regions, rgb.shape[:2])  # before the model runs
    model = predictor(model)
    density = model.predict(rgb, **page) if page else model.predict(rgb)
    return replace(attention_shares(density, resolved), note=note)


def leader(values, higher: bool = True, tolerance: float = SHARE_TOLERANCE) -> int | None:
    """The index of the value that leads all others (the highest, or with ``higher`` False the
    lowest) by more than ``tolerance``; None when it does not, or when a value is missing."""
    if len(values) < 2 or any(v is None for v in values):
        return None
    order = sorted(range(len(values)), key=lambda i: values[i], reverse=higher)
    first, second = values[order[0]], values[order[1]]
    return order[0] if abs(first - second) > tolerance else None


def compare_table(results: dict[str, AttentionShares]) -> str:
    """Images side by side (columns, in order) with a row per region name (in order of first
    appearance), the outside and the concentration: percentages of attention, ``*`` on the one
    that leads the others by more than :data:`SHARE_TOLERANCE` (more attention in a region, a
    smaller concentration), ``-`` where an image has no such region."""
    names = list(dict.fromkeys(s.name for r in results.values() for s in r.regions))
    rows = [(n, [_attention_of(r, n) for r in results.values()], True) for n in names]
    rows.append(("(outside all regions)", [r.outside.attention for r in results.values()], None))
    rows.append(("concentration", [r.concentration for r in results.values()], False))
    heads = [f"({i + 1})" for i in range(len(results))]
    first = max(len("region"), *(len(n) for n, _, _ in rows))
    lines = [f"{'region':<{first}}" + "".join(f"{h:>10}" for h in heads)]
    lines.append("-" * len(lines[0]))
    for name, values, higher in rows:
        lead = None if higher is None else leader(values, higher)
        cells = [
            "-" if v is None else f"{v:.1%}" + ("*" if i == lead else " ")
            for i, v in enumerate(values)
        ]
        lines.append(f"{name:<{first}}" + "".join(f"{c:>10}" for c in cells))
    lines += [f"{h} {image}" for h, image in zip(heads, results)]
    lines.append(
        f"* leads every other image by more than {SHARE_TOLERANCE:g} of the attention "
        f"({100 * SHARE_TOLERANCE:g} percentage points; concentration: the smaller)"
    )
    return "\n".join(lines)


def _attention_of(result: AttentionShares, name: str) -> float | None:
    return next((s.attention for s in result.regions if s.name == name), None)


CSV_COLUMNS = ("image", "width", "height", "region", "attention", "area", "concentration", "note")


def csv_rows(image: str, result: AttentionShares) -> list[dict]:
    """A row per region and one for the outside (region ``(outside all regions)``), with
    the image's concentration and note repeated on each row (:data:`CSV_COLUMNS`)."""
    shares = [*result.regions, Share("(outside all regions)", *_pair(result.outside))]
    return [
        {
            "image": image,
            "width": result.width,
            "height": result.height,
            "region": s.name,
            "attention": round(s.attention, 6),
            "area": round(s.area, 6),
            "concentration": round(result.concentration, 6),
            "note": result.note or "",
        }
        for s in shares
    ]


def _pair(share: Share) -> tuple[float, float]:
    return share.attention, share.area
