"""Paired transforms: the same geometry for the image, its saliency map and its fixations.

The geometry of fitting an image into the model's input (:func:`fit`) is shared with inference,
which uses :meth:`Geometry.to_original` to bring a predicted map back to the image's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from salmap.data.fixations import DENSITY_SIGMA, density_map, split_inside
from salmap.data.images import resize_array

ASPECT_MODES = ("resize", "pad")
# Letterbox bars (aspect "pad") are filled with the ImageNet mean colour, which normalises to
# about zero for the usual encoders.
PAD_COLOUR = (124, 116, 104)


@dataclass(frozen=True)
class Geometry:
    """Where an image of ``shape`` lands in a model input of ``size``, both (H, W)."""

    shape: tuple[int, int]
    size: tuple[int, int]
    scale: tuple[float, float]  # (sx, sy): input pixels per image pixel
    offset: tuple[int, int]  # (ox, oy): left and top padding in input pixels
    content: tuple[int, int]  # (h, w) of the image inside the input

    def apply_to_points(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return xy * np.array(self.scale) + np.array(self.offset)

    def to_original(self, prediction: np.ndarray) -> np.ndarray:
        """Crop the padding off an H x W prediction at the input size and resize it back."""
        ox, oy = self.offset
        ch, cw = self.content
        inner = np.asarray(prediction, dtype=np.float32)[oy : oy + ch, ox : ox + cw]
        return resize_array(inner, self.shape)


def fit(shape: Sequence[int], size: Sequence[int], mode: str = "resize") -> Geometry:
    """How an image of ``shape`` = (h, w) goes into an input of ``size`` = (H, W).

    ``resize`` stretches it to fill the input (the seed's recipe); ``pad`` scales it to fit
    while keeping its aspect ratio and centres it between bars of :data:`PAD_COLOUR`.
    """
    h, w = int(shape[0]), int(shape[1])
    H, W = int(size[0]), int(size[1])
    if mode == "resize":
        return Geometry((h, w), (H, W), (W / w, H / h), (0, 0), (H, W))
    if mode != "pad":
        raise ValueError(f"unknown aspect mode {mode!r}; expected one of {ASPECT_MODES}")
    s = min(W / w, H / h)
    cw, ch = max(1, min(W, round(w * s))), max(1, min(H, round(h * s)))
    ox, oy = (W - cw) // 2, (H - ch) // 2
    return Geometry((h, w), (H, W), (cw / w, ch / h), (ox, oy), (ch, cw))


def resize_image(image: np.ndarray, geometry: Geometry) -> np.ndarray:
    """An H x W x 3 uint8 image placed into the model input as ``geometry`` says."""
    ch, cw = geometry.content
    im = Image.fromarray(image).resize((cw, ch), Image.BILINEAR)
    if geometry.content == geometry.size:
        return np.array(im)
    H, W = geometry.size
    canvas = Image.new("RGB", (W, H), PAD_COLOUR)
    canvas.paste(im, geometry.offset)
    return np.asarray(canvas)


def resize_map(smap: np.ndarray, geometry: Geometry) -> np.ndarray:
    """A saliency map placed like its image, zero in the padding; a density keeps summing to 1."""
    inner = resize_array(smap, geometry.content)
    out = np.zeros(geometry.size, dtype=np.float32)
    ox, oy = geometry.offset
    out[oy : oy + inner.shape[0], ox : ox + inner.shape[1]] = inner
    total = float(smap.sum())
    if total > 0 and out.sum() > 0 and abs(total - 1.0) < 1e-3:
        out *= total / out.sum()
    return out


def apply_geometry(sample: dict, g: Geometry, sigma: float | None = None) -> dict:
    """A sample placed by ``g``: image, fixations (those leaving the frame dropped, with their
    subjects) and map. A fixation density is recomputed in the new frame when ``sigma`` is given
    (blur after resizing: the same density at the cost of the small image); any other map is
    resized (a density keeps summing to 1)."""
    out = dict(sample, image=resize_image(sample["image"], g), geometry=g)
    if sample.get("fixations") is not None:
        fix = g.apply_to_points(sample["fixations"])
        inside = split_inside(fix, g.size)
        out["fixations"] = fix[inside]
        if sample.get("subjects") is not None:
            out["subjects"] = np.asarray(sample["subjects"])[inside]
    if (
        sigma is not None
        and sample.get("map_kind") == "density"
        and sample.get("fixations") is not None
    ):
        out["saliency_map"] = density_map(out["fixations"], g.size, sigma, g.scale, max(g.shape))
    elif sample.get("saliency_map") is not None:
        out["saliency_map"] = resize_map(sample["saliency_map"], g)
    return out


class Resize:
    """Bring a sample to the model's input size (image, map and fixations alike)."""

    def __init__(self, size: Sequence[int], mode: str = "resize", sigma: float = DENSITY_SIGMA):
        if mode not in ASPECT_MODES:
            raise ValueError(f"unknown aspect mode {mode!r}; expected one of {ASPECT_MODES}")
        self.size, self.mode, self.sigma = (int(size[0]), int(size[1])), mode, sigma

    def __call__(self, sample: dict) -> dict:
        return apply_geometry(
            sample, fit(sample["image"].shape[:2], self.size, self.mode), self.sigma
        )


def hflip(sample: dict) -> dict:
    """Mirror a sample left to right: image, map and fixation x (x -> width - x)."""
    out = dict(sample)
    out["image"] = np.ascontiguousarray(sample["image"][:, ::-1])
    if sample.get("saliency_map") is not None:
        out["saliency_map"] = np.ascontiguousarray(sample["saliency_map"][:, ::-1])
    if sample.get("fixations") is not None:
        fix = np.array(sample["fixations"], dtype=np.float64).reshape(-1, 2)
        # pixel c covers [c, c+1); its mirror W-1-c covers [W-1-c, W-c): x -> just below W - x
        fix[:, 0] = np.nextafter(sample["image"].shape[1] - fix[:, 0], -np.inf)
        out["fixations"] = fix
    return out


class Normalize:
    """uint8 H x W x 3 image -> float32 3 x H x W, ``(x / 255 - mean) / std``.

    Build it from the model (:meth:`from_config`) so that training, evaluation and serving use
    the encoder's own statistics.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)
        # each channel's 256 values, computed as below: a uint8 image is looked up (half the
        # time of the arithmetic, the same float32 values)
        levels = np.arange(256, dtype=np.float32).reshape(1, 1, 256) / 255.0
        self.table = ((levels - self.mean) / self.std)[:, 0]

    @classmethod
    def from_config(cls, config) -> Normalize:
        return cls(config.mean, config.std)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        if image.dtype == np.uint8:
            out = np.empty((3, *image.shape[:2]), dtype=np.float32)
            for c in range(3):
                np.take(self.table[c], image[..., c], out=out[c])
            return out
        x = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return (x - self.mean) / self.std
