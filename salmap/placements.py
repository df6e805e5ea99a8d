"""Every placement of a w x h window in an H x W map, scored in O(H W) per window size.

A summed-area table gives the mass of each of the ``(H - h + 1) x (W - w + 1)`` placements
(:func:`window_sums`), prefix sums along the lines between pixels the attention each one's
edges cut (:meth:`MapTables.cut_penalty`), and tables of ``x`` and ``y`` times the density the
centre of mass inside any of them (:meth:`MapTables.framing_offsets`); both read the attention
that stands out (:attr:`MapTables.salient`). :class:`MapTables` builds each table once per map,
for every window size. :func:`keep_range` gives the placements whose window holds boxes that
must stay in the crop. :mod:`salmap.cropping` decides with these.
Placements are indexed ``[y0, x0]`` by the window's top-left pixel; boxes are
``(x0, y0, x1, y1)`` in the image's pixels, ``x1`` and ``y1`` exclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property

import numpy as np

from salmap.errors import SalmapError


def summed_area_table(density: np.ndarray) -> np.ndarray:
    """(H + 1) x (W + 1) float64 table: ``S[y, x]`` = mass of ``density[:y, :x]``."""
    s = np.zeros((density.shape[0] + 1, density.shape[1] + 1), dtype=np.float64)
    np.cumsum(density, axis=0, dtype=np.float64, out=s[1:, 1:])
    np.cumsum(s[1:, 1:], axis=1, out=s[1:, 1:])
    return s


def window_sums(table: np.ndarray, w: int, h: int) -> np.ndarray:
    """Mass of every w x h window: an (H - h + 1) x (W - w + 1) array, [y0, x0] per placement."""
    return table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]


class MapTables:
    """One map's tables, shared by every window size searched on it, each built on first use
    in O(H W): the summed-area table of ``density`` (H x W float64, non-negative), its
    attention that stands out (:attr:`salient`), the cut along every line between pixels and
    the summed-area tables of the salient attention's moments."""

    def __init__(self, density: np.ndarray):
        self.density = density
        self.total = float(density.sum())

    @cached_property
    def table(self) -> np.ndarray:
        return summed_area_table(self.density)

    @cached_property
    def salient(self) -> np.ndarray:
        """The attention that stands out: the density above the map's mean,
        ``max(d - mean, 0)``. A uniform map, or a flat background, has none."""
        return np.maximum(self.density - self.density.mean(), 0.0)

    @cached_property
    def _cut_lines(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.salient
        height, width = p.shape
        # rows[y, x]: cut along the line above pixel row y, summed over the columns before x
        rows = np.zeros((height + 1, width + 1))
        np.cumsum(np.minimum(p[:-1], p[1:]), axis=1, out=rows[1:-1, 1:])
        # cols[y, x]: cut along the line left of pixel column x, summed over the rows before y
        cols = np.zeros((height + 1, width + 1))
        np.cumsum(np.minimum(p[:, :-1], p[:, 1:]), axis=0, out=cols[1:, 1:-1])
        return rows, cols

    def cut_penalty(self, w: int, h: int, weight: float) -> np.ndarray:
        """What each placement's edges cut of the :attr:`salient` attention ``p``, in the
        map's units of mass: (H - h + 1) x (W - w + 1), [y0, x0] per placement.

        An edge runs along a line between two rows (top, bottom) or two columns (left, right)
        of pixels; a pixel pair across it is cut by ``min(p_inside, p_outside)``, zero outside
        the image, so a region that ends where the window ends is not cut. The penalty is
        ``weight * sqrt(w * h)`` times the sum over the four edges: a cut costs as much as a
        strip ``weight`` times the window's mean side deep of the attention it runs through."""
        rows, cols = self._cut_lines
        ny, nx = rows.shape[0] - h, rows.shape[1] - w
        cut = rows[:ny, w:] - rows[:ny, :nx]  # top edges; in place below, to spare the memory
        cut += rows[h:, w:]  # bottom
        cut -= rows[h:, :nx]
        cut += cols[h:, :nx]  # left
        cut -= cols[:ny, :nx]
        cut += cols[h:, w:]  # right
        cut -= cols[:ny, w:]
        cut *= weight * math.sqrt(w * h)
        return cut

    @cached_property
    def _moments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.salient
        xs = np.arange(p.shape[1], dtype=np.float64) + 0.5
        ys = np.arange(p.shape[0], dtype=np.float64)[:, None] + 0.5
        return summed_area_table(p), summed_area_table(p * xs), summed_area_table(p * ys)

    def framing_offsets(
        self, x0: np.ndarray, y0: np.ndarray, w: int, h: int, composition: str
    ) -> np.ndarray:
        """Distance in pixels, for the w x h windows at origins ``x0``, ``y0`` (1-D arrays),
        from the centre of mass of the :attr:`salient` attention inside each window (a flat
        background would pull it to the window's centre) to the window's centre
        (``composition="centre"``) or to the nearest of its four rule-of-thirds points
        (``"thirds"``). Pixel ``[y, x]`` sits at ``(x + 0.5, y + 0.5)``; a window without
        salient attention has its centre of mass at its centre."""
        mass, mx, my = (_sums_at(t, x0, y0, w, h) for t in self._moments)
        empty = mass <= 0
        safe = np.where(empty, 1.0, mass)
        cx = np.where(empty, x0 + w / 2, mx / safe)
        cy = np.where(empty, y0 + h / 2, my / safe)
        fractions = (1 / 2,) if composition == "centre" else (1 / 3, 2 / 3)
        points = [(x0 + fx * w, y0 + fy * h) for fx in fractions for fy in fractions]
        return np.min([np.hypot(cx - px, cy - py) for px, py in points], axis=0)


def _sums_at(table: np.ndarray, x0: np.ndarray, y0: np.ndarray, w: int, h: int) -> np.ndarray:
    """The mass of the w x h windows at origins ``x0``, ``y0`` only (1-D arrays)."""
    return table[y0 + h, x0 + w] - table[y0, x0 + w] - table[y0 + h, x0] + table[y0, x0]


def nearest_the_centre(x0: np.ndarray, y0: np.ndarray, w: int, h: int, image) -> int:
    """Index of the w x h window among origins ``x0``, ``y0`` whose centre is nearest the
    centre of an ``image`` (width, height); the first of equals, so row order decides."""
    width, height = image
    # window centre minus image centre, doubled to stay in integers
    return int(np.argmin((2 * x0 + w - width) ** 2 + (2 * y0 + h - height) ** 2))


def keep_range(
    keep: Sequence,
    image: tuple[int, int],
    window: tuple[int, int],
    largest: tuple[int, int],
    label: str,
) -> tuple[slice, slice]:
    """The window origins (x0 and y0, as slices of the placements) whose ``window`` (w, h)
    holds every box of ``keep`` in an ``image`` (width, height). A box must lie in the image.
    Boxes that no window holds raise a SalmapError that names them, the window (``label``, e.g.
    ``"1:1 window at zoom 0.5"``), the ``largest`` (w, h) at zoom 1 and the image's size."""
    width, height = image
    w, h = window
    if not len(keep):
        return slice(0, width - w + 1), slice(0, height - h + 1)
    if len(keep) == 4 and all(isinstance(v, (int, float, np.number)) for v in keep):
        raise SalmapError(f"keep={_fmt(keep)} is one box: give a list of boxes, keep=[(x0, ...)]")
    boxes = [_check_box(b, width, height) for b in keep]
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    if x1 - x0 <= w and y1 - y0 <= h:
        xs = slice(max(0, x1 - w), min(width - w, x0) + 1)
        return xs, slice(max(0, y1 - h), min(height - h, y0) + 1)
    big = [i for i, b in enumerate(boxes) if b[2] - b[0] > w or b[3] - b[1] > h]
    if big:
        b = boxes[big[0]]
        what = f"keep box {_fmt(keep[big[0]])} is {b[2] - b[0]}x{b[3] - b[1]} pixels"
    else:
        what = f"keep boxes {', '.join(map(_fmt, keep))} span {x1 - x0}x{y1 - y0} pixels"
    at_one = f" ({largest[0]}x{largest[1]} at zoom 1)" if tuple(largest) != (w, h) else ""
    raise SalmapError(
        f"{what} but the largest {label} of this {width}x{height} image is {w}x{h}{at_one}: "
        "raise the zoom, choose another aspect ratio or keep less"
    )


def _check_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    """A keep box as whole pixels covering it; SalmapError if malformed or outside the image."""
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise SalmapError(f"keep box {box!r} is not four numbers x0, y0, x1, y1") from None
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise SalmapError(
            f"keep box {_fmt(box)} is not a box inside the {width}x{height} image "
            "(x0 < x1 <= width, y0 < y1 <= height, in pixels, x1 and y1 exclusive)"
        )
    return math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)


def _fmt(box) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in box) + ")"
