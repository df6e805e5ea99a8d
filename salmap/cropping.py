"""Saliency-aware cropping: the window of a given aspect ratio that holds the most attention.

A window's size follows from the image, the aspect ratio and a zoom (:func:`window_size`); its
place is found by an exact search over every position (:func:`best_window`): a summed-area
table over the density gives the mass of each of the ``(H - h + 1) x (W - w + 1)`` placements
in O(H W), and the heaviest wins, ties going to the placement nearest the image centre.
With a composition, the placements within a tolerance of the heaviest are framed instead: the
attention's centre of mass nearest the window's centre or a third, edges that cut high
attention penalised (:mod:`salmap.placements` scores them). Boxes that must stay in the crop
limit the placements searched. :func:`salmap.sizing.crop_to_size` resizes to an output size.
Boxes are ``(x0, y0, x1, y1)`` in the image's pixels, ``x1`` and ``y1`` exclusive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from salmap.errors import SalmapError
from salmap.placements import MapTables, keep_range, nearest_the_centre, window_sums

# Placements whose mass is within this fraction of the map's total of the best one are ties:
# the summed-area table's rounding must not decide between windows that hold the same mass.
TIE_TOLERANCE = 1e-9
# Centres of mass this close (pixels) are framed equally well: the tables' rounding must not
# decide between windows (a uniform map's are all at their windows' centres).
FRAMING_TOLERANCE = 1e-6

# Ways to frame the near-best windows (see best_window); None keeps the heaviest window.
COMPOSITIONS = ("centre", "thirds")

# Framing chooses among the placements holding at least 1 - TOLERANCE of the heaviest one's
# mass: a framed window never holds less, whatever its composition and border penalty. The
# windows that all hold one subject on a plain ground differ by hundredths to tenths of a
# percent under the fast map (the bottle on white of benchmarks/crop_sheet.py is centred at
# 0.1%), while every tenth of a percent of tolerance costs about 0.001 of the human fixations
# kept (benchmarks/composition_sweep.py, on the training splits): 0.1% is the largest
# tolerance of its grid whose cost stays within 0.003 on both (MODEL_CARD.md). A larger one
# frames more (a headline kept whole at 2%) for more of the fixations.
TOLERANCE = 0.001

# Weight of the cut penalty (MapTables.cut_penalty): a cut costs as much attention as a strip
# BORDER times the window's mean side sqrt(w h) deep along it. Things up to about twice that
# deep (a headline, a face in a group) are kept whole or left out whole when the attention
# elsewhere pulls an edge through them; an edge moves at most about that far to avoid a cut.
BORDER = 0.1

# The ratios salmap crop and salmap serve's page crop to unless told otherwise.
DEFAULT_ASPECTS = "1:1,16:9,4:5,9:16"
# The longer side of the map a crop is searched on by default (``salmap crop --map fast``):
# chosen with benchmarks/fast_crop.py, whose table is in MODEL_CARD.md
FAST_MAP_SIDE = 256

_ASPECT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Window:
    """A crop window: ``box`` = (x0, y0, x1, y1) in image pixels (x1, y1 exclusive), the
    share of the map's mass inside it (0-1), and the settings of :func:`best_window` that
    chose it (``tolerance`` and ``border`` are 0 when ``composition`` is None: not used)."""

    box: tuple[int, int, int, int]
    attention: float
    zoom: float = 1.0
    composition: str | None = None
    tolerance: float = 0.0
    border: float = 0.0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        x0, y0, x1, y1 = self.box
        return x1 - x0, y1 - y0

    def to_dict(self) -> dict:
        return {
            "box": list(self.box),
            "attention": round(self.attention, 6),
            "zoom": self.zoom,
            "composition": self.composition,
            "tolerance": self.tolerance,
            "border": self.border,
        }


def parse_aspect(text) -> tuple[float, float]:
    """``"16:9"`` -> ``(16, 9)``; decimals such as ``"1.91:1"`` are allowed. A ``(w, h)``
    pair is checked and returned as it is. Zero, negative or malformed ratios raise a
    SalmapError that quotes the text."""
    if isinstance(text, (tuple, list)) and len(text) == 2:
        w, h = text
    else:
        m = _ASPECT.match(str(text))
        if not m:
            raise SalmapError(
                f"aspect ratio {text!r} is not of the form W:H with positive numbers (e.g. 16:9)"
            )
        w, h = (float(g) if "." in g else int(g) for g in m.groups())
    try:
        ok = float(w) > 0 and float(h) > 0 and np.isfinite([float(w), float(h)]).all()
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SalmapError(f"aspect ratio {text!r}: both sides must be positive numbers")
    return w, h


def parse_aspects(text: str) -> list[str]:
    """``"1:1,16:9"`` -> ``["1:1", "16:9"]``, each checked with :func:`parse_aspect`."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise SalmapError(f"no aspect ratio in {text!r} (e.g. 1:1,16:9)")
    for t in items:
        parse_aspect(t)
    return items


def check_zoom(zoom: float) -> float:
    zoom = float(zoom)
    if not 0 < zoom <= 1:
        raise SalmapError(f"zoom {zoom:g} must be in (0, 1]: 1 is the largest window that fits")
    return zoom


def window_size(width: int, height: int, aspect, zoom: float = 1.0) -> tuple[int, int]:
    """(w, h) in pixels of the window of ``aspect`` (``"16:9"`` or ``(16, 9)``) whose size is
    ``zoom`` times the largest such window that fits a ``width`` x ``height`` image.

    The side that limits the largest window is ``zoom`` times the image's side, rounded to
    the nearest pixel; the other side is the nearest pixel to that times the ratio, so the
    ratio is exact to within half a pixel (a side is never below 1 pixel or above the
    image's)."""
    if int(width) < 1 or int(height) < 1:
        raise SalmapError(f"image size {width}x{height}: both sides must be at least 1 pixel")
    aw, ah = parse_aspect(aspect)
    ratio = float(aw) / float(ah)
    zoom = check_zoom(zoom)
    if width >= height * ratio:  # height limits
        h = min(height, max(1, _round(zoom * height)))
        w = min(width, max(1, _round(h * ratio)))
    else:
        w = min(width, max(1, _round(zoom * width)))
        h = min(height, max(1, _round(w / ratio)))
    return w, h


def _round(x: float) -> int:
    """Nearest integer, halves up (Python's round() takes halves to even)."""
    return int(np.floor(x + 0.5))


def check_map(density, name: str = "map") -> np.ndarray:
    """A 2-D, finite, non-negative array as float64; otherwise a SalmapError."""
    m = np.asarray(density)
    if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
        raise SalmapError(f"{name}: expected an H x W array, got shape {m.shape}")
    m = m.astype(np.float64)
    if not np.isfinite(m).all():
        raise SalmapError(f"{name}: contains NaN or infinite values")
    if m.min() < 0:
        raise SalmapError(f"{name}: has negative values (min {m.min():g})")
    return m


def best_window(
    density,
    aspect,
    zoom: float = 1.0,
    *,
    composition: str | None = None,
    tolerance: float = TOLERANCE,
    border: float = BORDER,
    keep: Sequence = (),
) -> Window:
    """The window of ``aspect`` and ``zoom`` (see :func:`window_size`) holding the most mass
    of ``density`` (H x W, any non-negative scale; its pixels are the image's), searched
    exactly over every placement. A map with no mass is read as uniform.

    ``composition=None`` takes the heaviest placement; ties (within :data:`TIE_TOLERANCE` of
    the total) go to the placement whose centre is nearest the image centre. ``"centre"`` or
    ``"thirds"`` frames instead, among the placements holding at least ``1 - tolerance`` (a
    fraction, 0-1) of the heaviest placement's mass, so that framing never costs more than
    that: each of them scores its mass less the attention its edges cut
    (:meth:`salmap.placements.MapTables.cut_penalty`, weighted by ``border`` >= 0, a fraction
    of the window's mean side; 0 turns it off), and among those scoring within ``tolerance``
    of the heaviest placement's mass of the best of them, the one whose salient attention's
    centre of mass inside it lies nearest its centre, or nearest one of its four
    rule-of-thirds points, wins; equally framed ones go to the image centre. ``tolerance``
    and ``border`` apply only with a composition.

    ``keep``: boxes (x0, y0, x1, y1, image pixels) the window must hold; boxes no window of
    this size holds raise a SalmapError naming them and the largest window."""
    return _search(_tables(density), aspect, zoom, composition, tolerance, border, keep)


def best_windows(
    density, aspects, zoom: float = 1.0, image_size: tuple[int, int] | None = None, **options
) -> dict:
    """:func:`best_window` for each of ``aspects`` on one map, keyed by aspect as given: the
    map's tables (:class:`salmap.placements.MapTables`) are built once for all of them.
    ``options``: composition, tolerance, border and keep.

    ``image_size`` = (width, height) of the image when ``density`` is a smaller map of it (a
    crop needs no map at the image's resolution): each window is searched on the map, then the
    image's own window of the ratio and zoom is centred where the map's was
    (:func:`on_image`); ``keep`` boxes stay in the image's pixels."""
    tables = _tables(density)
    height, width = tables.density.shape
    if image_size is None or tuple(image_size) == (width, height):
        return {aspect: _search(tables, aspect, zoom, **options) for aspect in aspects}
    keep = options.pop("keep", ())
    scale = (width / image_size[0], height / image_size[1])
    inner = [_inside_scaled(b, scale) for b in keep]
    out = {}
    for aspect in aspects:
        placed = keep_origins(keep, image_size, aspect, zoom)  # the image's own check first
        found = _search(tables, aspect, zoom, keep=inner, **options)
        out[aspect] = on_image(found, (height, width), image_size, aspect, placed)
    return out


def on_image(window: Window, map_shape, image_size, aspect, origins=None) -> Window:
    """``window``, found on a map of ``map_shape`` (H, W), as the image's window of the same
    aspect and zoom (``image_size`` = (width, height); its size from :func:`window_size`)
    centred where the map's was, moved inside the image and to the ``origins`` (x0 and y0
    slices, see :func:`salmap.placements.keep_range`) that hold its keep boxes."""
    (h, w), (width, height) = map_shape, image_size
    ww, wh = window_size(width, height, aspect, window.zoom)
    xs, ys = origins or keep_origins((), image_size, aspect, window.zoom)
    x0, y0, x1, y1 = window.box
    cx, cy = (x0 + x1) / 2 * width / w, (y0 + y1) / 2 * height / h
    left = min(max(_round(cx - ww / 2), xs.start), xs.stop - 1)
    top = min(max(_round(cy - wh / 2), ys.start), ys.stop - 1)
    return replace(window, box=(left, top, left + ww, top + wh))


def holds(keep, image_size, aspect, zoom: float = 1.0) -> bool:
    """Whether some window of ``aspect`` and ``zoom`` in an image of ``image_size`` (width,
    height) holds every box of ``keep``."""
    try:
        keep_origins(keep, image_size, aspect, zoom)
    except SalmapError:
        return False
    return True


def keep_origins(keep, image_size, aspect, zoom: float = 1.0) -> tuple[slice, slice]:
    """The origins x0 and y0 (slices) of the windows of ``aspect`` and ``zoom`` in an image of
    ``image_size`` (width, height) that hold every box of ``keep``; a SalmapError naming the
    boxes where none does (:func:`salmap.placements.keep_range`)."""
    width, height = image_size
    return keep_range(
        keep,
        image_size,
        window_size(width, height, aspect, zoom),
        window_size(width, height, aspect),
        f"{_ratio(aspect)} window at zoom {float(zoom):g}",
    )


def _inside_scaled(box, scale) -> tuple[float, float, float, float]:
    """A keep box in a smaller map's pixels, one map pixel in from each side (never empty), so
    that rounding on the map never makes a feasible box infeasible; the image's window is
    moved to hold the box itself (:func:`on_image`)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    (sx, sy), cx, cy = scale, (x0 + x1) / 2, (y0 + y1) / 2
    a, b = min(x0 * sx + 1, cx * sx), max(x1 * sx - 1, cx * sx + 1e-3)
    c, d = min(y0 * sy + 1, cy * sy), max(y1 * sy - 1, cy * sy + 1e-3)
    return a, c, b, d


def _tables(density) -> MapTables:
    """The tables of ``density`` once checked (:func:`check_map`); without mass, uniform."""
    m = check_map(density, "density")
    return MapTables(m if m.sum() > 0 else np.ones_like(m))


def _search(
    tables: MapTables,
    aspect,
    zoom: float,
    composition: str | None = None,
    tolerance: float = TOLERANCE,
    border: float = BORDER,
    keep: Sequence = (),
) -> Window:
    """:func:`best_window` on a map's tables."""
    height, width = tables.density.shape
    w, h = window_size(width, height, aspect, zoom)
    check_composition(composition, tolerance, border)
    if composition is None:
        tolerance = border = 0.0
    xs, ys = keep_range(
        keep,
        (width, height),
        (w, h),
        window_size(width, height, aspect),
        f"{_ratio(aspect)} window at zoom {float(zoom):g}",
    )
    sums = window_sums(tables.table, w, h)[ys, xs]
    slack = TIE_TOLERANCE * tables.total + tolerance * float(sums.max())
    near = sums >= float(sums.max()) - slack  # attention first: the cost is bounded
    score = sums - tables.cut_penalty(w, h, border)[ys, xs] if border > 0 else sums
    score = np.where(near, score, -np.inf)
    y0, x0 = np.nonzero(score >= float(score.max()) - slack)
    x0, y0 = x0 + xs.start, y0 + ys.start
    if composition is not None:
        offsets = tables.framing_offsets(x0, y0, w, h, composition)
        framed = offsets <= offsets.min() + FRAMING_TOLERANCE
        x0, y0 = x0[framed], y0[framed]
    i = nearest_the_centre(x0, y0, w, h, (width, height))
    x0, y0 = int(x0[i]), int(y0[i])
    share = min(1.0, max(0.0, float(sums[y0 - ys.start, x0 - xs.start]) / tables.total))
    return Window((x0, y0, x0 + w, y0 + h), share, float(zoom), composition, tolerance, border)


def check_composition(
    composition: str | None = None, tolerance: float = TOLERANCE, border: float = BORDER
) -> None:
    """SalmapError for an unknown composition, a tolerance outside [0, 1), a negative border,
    or a tolerance or border other than the defaults without a composition."""
    if composition is not None and composition not in COMPOSITIONS:
        raise SalmapError(
            f"composition {composition!r} is not one of {', '.join(COMPOSITIONS)} "
            "(or None for the heaviest window)"
        )
    if not 0 <= tolerance < 1:
        raise SalmapError(f"tolerance {tolerance:g} must be in [0, 1): a fraction of the best")
    if not (0 <= border < np.inf):
        raise SalmapError(f"border {border:g} must be a finite number >= 0")
    if composition is None and (tolerance, border) != (TOLERANCE, BORDER):
        raise SalmapError(
            "tolerance and border choose among the near-best windows by composition: "
            f"give composition={COMPOSITIONS[0]!r} or {COMPOSITIONS[1]!r} with them"
        )


def _ratio(aspect) -> str:
    """``"16:9"`` as the user wrote it, a (w, h) pair as ``"w:h"``."""
    if isinstance(aspect, str):
        return aspect.strip()
    aw, ah = parse_aspect(aspect)
    return f"{aw:g}:{ah:g}"


@lru_cache(maxsize=4)
def _cached_model(path: str):
    from salmap import load_model

    return load_model(path)


def predictor(model=None):
    """A loaded model (anything with ``predict(image) -> H x W density``) for ``model``:
    ``None`` for the default model, a shipped model's name, a path (folder, .safetensors, .onnx),
    or a loaded model, returned as it is. Loaded paths are kept for the next call."""
    if model is None:
        model = "default"
    if hasattr(model, "predict"):
        return model
    return _cached_model(str(model))


def crop(image, aspect="16:9", zoom: float = 1.0, model=None, **options) -> Window:
    """The best ``aspect`` window of ``image`` (path, PIL image or H x W x 3 array, EXIF
    orientation applied) under ``model``'s predicted attention: its box in the image's
    pixels and the share of the predicted attention inside it. ``options``: composition,
    tolerance, border and keep, as :func:`best_window` takes them."""
    parse_aspect(aspect)
    check_zoom(zoom)
    check_composition(**{k: v for k, v in options.items() if k != "keep"})  # before the model
    return best_window(predictor(model).predict(image), aspect, zoom, **options)


# Box colours of a preview, in the order of the aspect ratios: bright against the heatmap and
# none white or near it, so that every box shows on a white design too.
PREVIEW_COLOURS = ((0, 255, 255), (57, 255, 20), (255, 64, 255), (255, 140, 0), (64, 160, 255))
# Small images are enlarged in their preview so that boxes and labels stay readable.
PREVIEW_MIN_SIDE = 640


def preview(
    image: np.ndarray,
    density: np.ndarray,
    windows: dict[str, Window],
    alpha: float | None = None,
    colormap: str | None = None,
) -> np.ndarray:
    """The heatmap overlay of ``density`` on ``image`` (H x W x 3 uint8) with each window's
    box drawn in its colour, above a legend: ``<aspect>  <W>x<H>  <attention>% of the
    attention`` per window. An RGB uint8 array, enlarged to :data:`PREVIEW_MIN_SIDE` on its
    longer side when the image is smaller."""
    from PIL import Image, ImageDraw, ImageFont

    from salmap.viz import DEFAULT_ALPHA, DEFAULT_COLORMAP, overlay

    alpha = DEFAULT_ALPHA if alpha is None else alpha
    picture = Image.fromarray(overlay(image, density, alpha, colormap or DEFAULT_COLORMAP))
    scale = max(1.0, PREVIEW_MIN_SIDE / max(picture.size))
    if scale > 1:
        size = (round(picture.width * scale), round(picture.height * scale))
        picture = picture.resize(size, Image.BICUBIC)
    side = max(picture.size)
    line = max(2, round(side / 300))
    font = ImageFont.load_default(size=max(12, round(side / 45)))
    row = round(font.size * 1.5)
    canvas = Image.new("RGB", (picture.width, picture.height + row * len(windows) + row // 2))
    canvas.paste(picture)
    draw = ImageDraw.Draw(canvas)
    for i, (label, win) in enumerate(windows.items()):
        colour = PREVIEW_COLOURS[i % len(PREVIEW_COLOURS)]
        x0, y0, x1, y1 = (round(v * scale) for v in win.box)
        # a dark edge under the coloured one keeps the box visible on a bright heatmap
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(0, 0, 0), width=line + 2)
        draw.rectangle((x0 + 1, y0 + 1, x1 - 2, y1 - 2), outline=colour, width=line)
        y = picture.height + row // 4 + i * row
        draw.rectangle(
            (row // 3, y + row // 6, row // 3 + font.size, y + row // 6 + font.size), fill=colour
        )
        w, h = win.size
        text = f"{label}  {w}x{h}  {win.attention:.0%} of the attention"
        draw.text(
            (row // 3 + font.size + row // 3, y + row // 6), text, fill=(255, 255, 255), font=font
        )
    return np.asarray(canvas)
