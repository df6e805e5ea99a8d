"""Attention crops at an output size, as sharp's ``resize(w, h, {position: "attention"})``.

:func:`crop_to_size` takes the best window of the output's aspect ratio
(:func:`salmap.cropping.best_window`) and resizes it to exactly the size asked for;
:func:`parse_size` reads a size such as ``"1200x630"`` (pixels).
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from salmap.cropping import Window, best_window, predictor, window_size
from salmap.errors import SalmapError

_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text) -> tuple[int, int]:
    """``"1200x630"`` or ``(1200, 630)`` -> ``(1200, 630)``: an output size in whole pixels,
    both at least 1; anything else raises a SalmapError that quotes it."""
    if isinstance(text, (tuple, list)) and all(_whole(v) for v in text):
        pair = tuple(int(v) for v in text)
    else:
        m = _SIZE.match(text) if isinstance(text, str) else None
        pair = tuple(map(int, m.groups())) if m else ()
    if len(pair) != 2 or min(pair) < 1:
        raise SalmapError(
            f"size {text!r} is not WxH in whole pixels, each at least 1 (e.g. 1200x630)"
        )
    return pair


def crop_to_size(
    image,
    size,
    model=None,
    *,
    density=None,
    zoom: float = 1.0,
    enlarge: bool = True,
    **options,
) -> tuple[Image.Image, Window]:
    """``image`` (path, PIL image or H x W x 3 array) cropped to the best window of ``size``'s
    aspect ratio and resized to exactly ``size`` (``(w, h)`` or ``"WxH"``, pixels) with
    Lanczos, as sharp's ``resize(w, h, {position: "attention"})`` does: ``(PIL RGB image,
    Window)``. The attention is ``density`` (H x W, the image's size) when given, else
    ``model``'s prediction; ``zoom`` and ``options`` (composition, tolerance, border, keep)
    are :func:`best_window`'s. The window's ratio is the size's to within half a pixel of the
    window (:func:`salmap.cropping.window_size`), so the resize stretches by no more than that.

    A window smaller than ``size`` (a small image, or a low zoom) is enlarged, as sharp does by
    default; ``enlarge=False`` refuses it with a SalmapError that gives both sizes."""
    from salmap.data.images import to_rgb_array

    target = parse_size(size)
    pixels = to_rgb_array(image)
    height, width = pixels.shape[:2]
    w, h = window_size(width, height, target, zoom)
    if not enlarge and (w < target[0] or h < target[1]):
        raise SalmapError(
            f"the largest {target[0]}:{target[1]} window of this {width}x{height} image at "
            f"zoom {zoom:g} is {w}x{h}, smaller than {target[0]}x{target[1]}: enlarge=True "
            "upscales it"
        )
    if density is None:
        density = predictor(model).predict(pixels)  # decoded once
    if np.shape(density) != (height, width):
        raise SalmapError(
            f"density is {np.shape(density)} but the image is {height} x {width} (H x W): "
            "a map must have the image's size"
        )
    window = best_window(density, target, zoom, **options)
    return resized(pixels, window.box, target), window


def resized(pixels: np.ndarray, box, size: tuple[int, int], scale=None) -> Image.Image:
    """The ``box`` = (x0, y0, x1, y1) of an H x W x 3 image resized to ``size`` = (w, h) with
    Lanczos (enlarged where the box is smaller). ``scale`` = (sx, sy): ``pixels`` are the image
    decoded smaller by that much (a JPEG's draft), ``box`` still in the full image's pixels."""
    if scale is not None:
        sx, sy = scale
        x0, y0, x1, y1 = box
        area = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
        return Image.fromarray(pixels).resize(tuple(size), Image.LANCZOS, box=area)
    x0, y0, x1, y1 = box
    return Image.fromarray(pixels[y0:y1, x0:x1]).resize(tuple(size), Image.LANCZOS)


def _whole(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)
