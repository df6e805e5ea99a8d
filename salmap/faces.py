"""Faces a crop must not cut, for ``salmap crop --keep-faces``.

The detector is OpenCV's frontal-face Haar cascade, whose model file the OpenCV 4.x wheels
carry (``pip install 'salmap[faces]'``; the 5.x wheels no longer ship the cascades), run on
the image with its longer side at :data:`DETECT_SIDE` pixels. Checked against EyeCrowd's
9,778 hand-labelled faces at that size (``benchmarks/face_check.py``, MODEL_CARD.md), it
finds 41% of the frontal faces at least 32 px tall, 1% of those of 16-32 px and 3% of the
profiles, and 89% of its detections are faces: it keeps the faces of a portrait or a small
group, not those of a crowd.

A face is a box the crop must hold, as a ``--keep`` box is; where a window of the ratio and
zoom cannot hold them all, :func:`faces_that_fit` keeps the largest faces that fit together
rather than failing the image (the user's own ``--keep`` boxes always stay), and
:func:`uncut` moves the window as little as it can so that the faces it does not hold are left
out whole, not cut by its edges.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from salmap.errors import SalmapError

DETECT_SIDE = 512  # the longer side the detector sees (the size face_check.py measured)
CASCADE = "haarcascade_frontalface_default.xml"

Box = tuple[float, float, float, float]


def area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def face_cascade():
    """OpenCV's frontal-face cascade; a SalmapError saying what to install when it is missing."""
    try:
        import cv2
    except ImportError:
        raise SalmapError(
            "--keep-faces needs OpenCV's face detector: pip install 'salmap[faces]'"
        ) from None
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    cascade = cv2.CascadeClassifier(folder + CASCADE) if folder else None
    if cascade is None or cascade.empty():
        raise SalmapError(
            f"--keep-faces: this OpenCV ({cv2.__version__}) has no {CASCADE}; the 4.x wheels "
            "carry it: pip install 'salmap[faces]'"
        )
    return cascade


def detect_faces(cascade, image: np.ndarray) -> list[Box]:
    """The frontal faces in ``image`` (H x W x 3 uint8), as boxes (x0, y0, x1, y1) in its
    pixels, largest first."""
    import cv2

    height, width = image.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(height, width))
    small = image
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2GRAY)
    found = cascade.detectMultiScale(grey, 1.1, 5, minSize=(16, 16))
    boxes = [
        (
            max(0.0, float(x) / scale),
            max(0.0, float(y) / scale),
            min(float(width), float(x + w) / scale),
            min(float(height), float(y + h) / scale),
        )
        for x, y, w, h in found
    ]
    return sorted(boxes, key=area, reverse=True)


def faces_that_fit(
    faces: Sequence[Box], keep: Sequence[Box], fits: Callable[[list], bool]
) -> list[Box]:
    """The ``keep`` boxes and, largest first, each face that a window can still hold with
    them: ``fits(boxes)`` says whether some window of the ratio and zoom holds every box."""
    chosen = list(keep)
    for face in sorted(faces, key=area, reverse=True):
        if fits([*chosen, face]):
            chosen.append(face)
    return chosen


def inside(box: Box, window: Sequence[int]) -> bool:
    """Whether ``box`` lies wholly inside ``window`` (both x0, y0, x1, y1)."""
    return bool(
        window[0] <= box[0] and window[1] <= box[1] and box[2] <= window[2] and box[3] <= window[3]
    )


def uncut(window, faces: Sequence[Box], origins: tuple[slice, slice], density, image_size):
    """``window`` (a :class:`salmap.cropping.Window` in the image's pixels) moved to the
    nearest origin among ``origins`` (x0 and y0 slices: those that hold the kept boxes) where
    each of ``faces`` is wholly inside or wholly outside it, its attention measured again on
    ``density`` (a map of the image of ``image_size`` = (width, height), at any size); the
    window as it is where it cuts none, or where no such origin exists."""
    from dataclasses import replace

    x0, y0, x1, y1 = window.box
    w, h = x1 - x0, y1 - y0
    xs = np.arange(origins[0].start, origins[0].stop)
    ys = np.arange(origins[1].start, origins[1].stop)
    whole = np.ones((len(ys), len(xs)), bool)
    for fx0, fy0, fx1, fy1 in faces:
        in_x, out_x = (xs <= fx0) & (xs + w >= fx1), (xs + w <= fx0) | (xs >= fx1)
        in_y, out_y = (ys <= fy0) & (ys + h >= fy1), (ys + h <= fy0) | (ys >= fy1)
        whole &= (in_y[:, None] & in_x[None, :]) | out_y[:, None] | out_x[None, :]
    here = (ys == y0)[:, None] & (xs == x0)[None, :]
    if not whole.any() or (whole & here).any():
        return window
    distance = np.where(whole, (ys[:, None] - y0) ** 2 + (xs[None, :] - x0) ** 2, np.inf)
    row, col = np.unravel_index(int(np.argmin(distance)), distance.shape)
    box = (int(xs[col]), int(ys[row]), int(xs[col]) + w, int(ys[row]) + h)
    return replace(window, box=box, attention=_share(density, box, image_size))


def _share(density, box, image_size) -> float:
    """The share of ``density``'s mass inside ``box`` (image pixels), on the map's grid."""
    height, width = density.shape
    sx, sy = width / image_size[0], height / image_size[1]
    x0, y0, x1, y1 = box
    rows = slice(round(y0 * sy), max(round(y1 * sy), round(y0 * sy) + 1))
    cols = slice(round(x0 * sx), max(round(x1 * sx), round(x0 * sx) + 1))
    return float(density[rows, cols].sum() / max(float(density.sum()), 1e-30))
