"""Saliency-aware cropping: the window of a given aspect ratio that holds the most attention.

A window's size follows from the image, the aspect ratio and a zoom (:func:`window_size`); its
place is found by an exact search over every position (:func:`best_window`): a summed-area
table over the density gives the mass of each of the ``(H - h + 1) x (W - w + 1)`` placements
in O(H W), and the heaviest wins, ties going to the placement nearest the image centre.
Boxes are ``(x0, y0, x1, y1)`` in the image's pixels, ``x1`` and ``y1`` exclusive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from salmap.errors import SalmapError

# Placements whose mass is within this fraction of the map's total of the best one are ties:
# the summed-area table's rounding must not decide between windows that hold the same mass.
TIE_TOLERANCE = 1e-9

_ASPECT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Window:
    """A crop window: ``box`` = (x0, y0, x1, y1) in image pixels (x1, y1 exclusive) and the
    share of the map's mass inside it (0-1)."""

    box: tuple[int, int, int, int]
    attention: float

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        x0, y0, x1, y1 = self.box
        return x1 - x0, y1 - y0

    def to_dict(self) -> dict:
        return {"box": list(self.box), "attention": round(self.attention, 6)}


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


def summed_area_table(density: np.ndarray) -> np.ndarray:
    """(H + 1) x (W + 1) float64 table: ``S[y, x]`` = mass of ``density[:y, :x]``."""
    s = np.zeros((density.shape[0] + 1, density.shape[1] + 1), dtype=np.float64)
    np.cumsum(density, axis=0, dtype=np.float64, out=s[1:, 1:])
    np.cumsum(s[1:, 1:], axis=1, out=s[1:, 1:])
    return s


def window_sums(table: np.ndarray, w: int, h: int) -> np.ndarray:
    """Mass of every w x h window: an (H - h + 1) x (W - w + 1) array, [y0, x0] per placement."""
    return table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]


def best_window(density, aspect, zoom: float = 1.0) -> Window:
    """The window of ``aspect`` and ``zoom`` (see :func:`window_size`) holding the most mass
    of ``density`` (H x W, any non-negative scale; its pixels are the image's), searched
    exactly over every placement. Ties (within :data:`TIE_TOLERANCE` of the total) go to the
    placement whose centre is nearest the image centre. A map with no mass is read as
    uniform."""
    m = check_map(density, "density")
    height, width = m.shape
    w, h = window_size(width, height, aspect, zoom)
    total = float(m.sum())
    if total <= 0:
        m, total = np.ones_like(m), float(m.size)
    sums = window_sums(summed_area_table(m), w, h)
    best = float(sums.max())
    ys, xs = np.nonzero(sums >= best - TIE_TOLERANCE * total)
    # window centre minus image centre, doubled to stay in integers
    dist = (2 * xs + w - width) ** 2 + (2 * ys + h - height) ** 2
    i = int(np.argmin(dist))  # first in row order among equals: deterministic
    x0, y0 = int(xs[i]), int(ys[i])
    share = min(1.0, max(0.0, float(sums[y0, x0]) / total))
    return Window((x0, y0, x0 + w, y0 + h), share)


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


def crop(image, aspect="16:9", zoom: float = 1.0, model=None) -> Window:
    """The best ``aspect`` window of ``image`` (path, PIL image or H x W x 3 array, EXIF
    orientation applied) under ``model``'s predicted attention: its box in the image's
    pixels and the share of the predicted attention inside it."""
    parse_aspect(aspect)
    check_zoom(zoom)
    return best_window(predictor(model).predict(image), aspect, zoom)


# Box colours of a preview, in the order of the aspect ratios: bright against the heatmap.
PREVIEW_COLOURS = ((0, 255, 255), (57, 255, 20), (255, 64, 255), (255, 255, 255), (64, 160, 255))
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
