"""Any image in, its saliency map at the image's own resolution out.

The same preprocessing (:func:`prepare`) and postprocessing (:func:`restore`) serve the PyTorch
model and its ONNX export, so both give the same maps; a runner is anything that maps a
B x 3 x H x W float32 batch to B x H x W maps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np

from salmap.baselines import uniform
from salmap.data.images import (
    BACKGROUND,
    image_size,
    load_image,
    shrunk_as_drafted,
    to_rgb_array,
)
from salmap.data.transforms import Geometry, Normalize, fit, resize_image
from salmap.errors import DataError, SalmapError

Runner = Callable[[np.ndarray], np.ndarray]
RUNNERS = ("onnx", "torch")

# What ``salmap predict`` writes per image: ``<stem><suffix>.<ext>`` for each kind of output.
OUTPUT_SUFFIX = {
    "map": "_map",
    "density": "_density",
    "log-density": "_logdensity",
    "overlay": "_overlay",
    "side-by-side": "_side",
    "fog": "_fog",
}
OUTPUT_EXTENSION = {
    "map": ".png",
    "density": ".npy",
    "log-density": ".npy",
    "overlay": ".jpg",
    "side-by-side": ".jpg",
    "fog": ".jpg",
}


# --- long pages ---------------------------------------------------------------------------------
# How long a page is read, screenful by screenful: a prior taken from Nielsen Norman Group's
# eye-tracking studies of scrolling (Kara Pernice, "Scrolling and Attention", nngroup.com, 2018:
# 57% of page-viewing time above the fold, 74% within the first two screenfuls). Screenful 1
# gets 0.57, screenful 2 0.17, and each further one SCROLL_DECAY times the one before, the ratio
# at which screenfuls 3, 4, ... hold the remaining 0.26 (0.17 r / (1 - r) = 0.26); a page of n
# screenfuls renormalises the first n. Not learned from data: a stated prior, the same for every
# page.
ABOVE_FOLD_SHARE = 0.57
SECOND_SCREEN_SHARE = 0.74 - ABOVE_FOLD_SHARE
SCROLL_DECAY = (1 - 0.74) / (SECOND_SCREEN_SHARE + 1 - 0.74)
LONG_PAGE_MODES = ("auto", "on", "off")
# --long-page auto predicts an image as a long page when it is taller than this many folds.
LONG_PAGE_RATIO = 1.5


def scroll_weights(n: int) -> np.ndarray:
    """The share of viewing time of each of a page's ``n`` screenfuls (sums to 1; see
    :data:`ABOVE_FOLD_SHARE`)."""
    w = [ABOVE_FOLD_SHARE, SECOND_SCREEN_SHARE][:n]
    w += [SECOND_SCREEN_SHARE * SCROLL_DECAY ** (k - 1) for k in range(2, n)]
    w = np.asarray(w, dtype=np.float64)
    return w / w.sum()


def fold_height(width: int, viewport: tuple[int, int]) -> int:
    """The fold of an image ``width`` pixels wide shown at ``viewport`` (width, height): the
    viewport's height in the image's pixels (a 2880-wide retina capture of a 1440x900 viewport
    folds at 1800)."""
    return max(1, round(width * viewport[1] / viewport[0]))


def long_page_fold(
    shape: tuple[int, int], mode: str, viewport: tuple[int, int] | None
) -> int | None:
    """The fold (pixels) at which an image of ``shape`` (H, W) is predicted as a long page,
    or None to predict it whole: ``mode`` "on", or "auto" with a known ``viewport`` and an
    image taller than :data:`LONG_PAGE_RATIO` folds. Without a viewport, "on" assumes
    :data:`salmap.capture.DEFAULT_VIEWPORT`."""
    from salmap.capture import DEFAULT_VIEWPORT

    if mode not in LONG_PAGE_MODES:
        raise SalmapError(f"--long-page takes {', '.join(LONG_PAGE_MODES)}; got {mode!r}")
    if mode == "off" or (mode == "auto" and viewport is None):
        return None
    fold = fold_height(shape[1], viewport or DEFAULT_VIEWPORT)
    if mode == "auto" and shape[0] <= LONG_PAGE_RATIO * fold:
        return None
    return fold


# A long page's windows start half a screenful apart, each blended in with a tent-shaped weight
# that falls from 1 at its middle to this at its top and bottom rows: no seams where they end.
WINDOW_EDGE_WEIGHT = 0.05


@dataclass(frozen=True)
class PageGeometry:
    """A long page (``shape`` = (H, W) pixels) predicted as the viewer scrolls it: windows of
    its full width and ``fold`` rows starting at ``starts`` (half a screenful apart; the last
    one ends at the page's end), each placed in the model's input as ``window`` says."""

    shape: tuple[int, int]
    fold: int
    starts: tuple[int, ...]
    window: Geometry

    @property
    def screenfuls(self) -> int:
        return -(-self.shape[0] // self.fold)

    def combine(self, predictions: np.ndarray) -> np.ndarray:
        """One prediction per window (N x h x w, at the input size) -> the page's density
        (H x W float32, sums to 1): the windows' densities blended where they overlap (tent
        weights, :data:`WINDOW_EDGE_WEIGHT`), each row then weighted by its screenful's
        :func:`scroll_weights` share."""
        h, fold = self.shape[0], self.fold
        blend = np.zeros(self.shape, np.float32)
        cover = np.zeros(h, np.float32)
        centre = (np.arange(fold) + 0.5) / fold
        tent = np.maximum(1 - np.abs(2 * centre - 1), WINDOW_EDGE_WEIGHT).astype(np.float32)
        for start, p in zip(self.starts, predictions):
            blend[start : start + fold] += tent[:, None] * restore(p, self.window)
            cover[start : start + fold] += tent
        depth = scroll_weights(self.screenfuls)[np.arange(h) // fold].astype(np.float32)
        out = blend * (depth / cover)[:, None]
        return out / out.sum()


def page_windows(rgb: np.ndarray, fold: int, config) -> tuple[np.ndarray, PageGeometry]:
    """A long page (H x W x 3 uint8) as the model's inputs of its windows (N x 3 x h x w,
    ``fold`` rows each, half a screenful apart) and their geometry."""
    h = rgb.shape[0]
    fold = min(fold, h)
    starts = list(range(0, h - fold, max(1, fold // 2))) + [h - fold]
    window = fit((fold, rgb.shape[1]), config.input_size, config.aspect)
    normalise = Normalize.from_config(config)
    x = np.stack([normalise(resize_image(rgb[s : s + fold], window)) for s in starts])
    return x, PageGeometry(rgb.shape[:2], fold, tuple(starts), window)


def prepare(image, config, background=BACKGROUND) -> tuple[np.ndarray, Geometry]:
    """An image (path, PIL image or array) -> the model's 3 x H x W input, and its geometry."""
    return read_input(image, config, background, keep_pixels=False)[1:]


def output_shape(shape: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(H, W) scaled down, aspect kept, so that the longer side is at most ``max_side``."""
    h, w = int(shape[0]), int(shape[1])
    if not max_side or max(h, w) <= max_side:
        return h, w
    s = max_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def read_input(
    image,
    config,
    background=BACKGROUND,
    max_output_side: int | None = None,
    keep_pixels: bool = True,
    frame: int = 0,
    long_page: str = "off",
    viewport: tuple[int, int] | None = None,
) -> tuple[np.ndarray | None, np.ndarray, Geometry | PageGeometry]:
    """An image (path, PIL image or array) -> (the H x W x 3 uint8 image at the output size,
    or None without ``keep_pixels``; the model's 3 x h x w float32 input; the geometry that
    brings a prediction back to the output size).

    The output size is the image's own, or its longer side shrunk to ``max_output_side``. A
    JPEG file is decoded only as large as needed (Pillow's draft mode): twice the model's input
    (never less than the output size, nor more than the image's), or in full when the pixels
    are kept at the image's own size (for overlays) or for a long page. Pixels given as they
    are, when they are not kept, are first shrunk as that decode would have (a full decode that
    a crop needs gives the model what a draft decode of the file gives it). A long page
    (:func:`long_page_fold` of ``long_page`` and ``viewport``) gives N x 3 x h x w inputs, one
    per screenful, and a :class:`PageGeometry`."""
    if isinstance(image, (str, os.PathLike)):
        size = image_size(image)
        full = output_shape(size, max_output_side)
        fold = long_page_fold(full, long_page, viewport)
        whole = (keep_pixels and not max_output_side) or fold is not None  # a page: full width
        need = max(full) if whole else read_side(full, size, config)
        rgb = load_image(image, background, min_side=need, frame=frame)
        if rgb.shape[0] >= full[0] and not max_output_side:
            full = rgb.shape[:2]  # decoded in full (a TIFF page may differ from the header)
    else:
        rgb = to_rgb_array(image, background)
        full = output_shape(rgb.shape[:2], max_output_side)
        fold = long_page_fold(full, long_page, viewport)
        if not keep_pixels and fold is None:
            rgb = shrunk_as_drafted(rgb, read_side(full, rgb.shape[:2], config))
    if rgb.shape[:2] != tuple(full) and (keep_pixels or fold is not None):
        from PIL import Image

        rgb = np.asarray(Image.fromarray(rgb).resize((full[1], full[0]), Image.BILINEAR))
    if fold is not None:
        x, page = page_windows(rgb, fold, config)
        return (rgb if keep_pixels else None), x, page
    g = fit(full, config.input_size, config.aspect)
    x = Normalize.from_config(config)(resize_image(rgb, g))
    return (rgb if keep_pixels else None), x, g


def read_side(full: tuple[int, int], size: tuple[int, int], config) -> int:
    """The longer side an image of ``size`` is read at for a map of shape ``full``: twice the
    model's input, never less than the map's nor more than the image's."""
    return max(max(full), min(max(size), 2 * max(config.input_size)))


def restore(prediction: np.ndarray, geometry: Geometry) -> np.ndarray:
    """A map at the input size -> a density at the image's resolution (float32, sums to 1);
    for a long page (a :class:`PageGeometry`), N maps, one per screenful.

    A map that is zero everywhere becomes the uniform density; NaN or infinite values (a broken
    model) raise a DataError rather than passing for a plausible map."""
    if not np.isfinite(prediction).all():
        raise DataError("the model's prediction contains NaN or infinite values")
    if isinstance(geometry, PageGeometry):
        return geometry.combine(prediction)
    m = np.clip(geometry.to_original(prediction), 0, None)
    total = float(m.sum())
    if total <= 0:
        return uniform(geometry.shape)
    return (m / total).astype(np.float32)


def onnxruntime_available() -> bool:
    from importlib.util import find_spec

    return find_spec("onnxruntime") is not None


def onnx_has_cuda() -> bool:
    """Whether the installed onnxruntime can run on CUDA (onnxruntime-gpu)."""
    if not onnxruntime_available():
        return False
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def check_device(device: str | None, runner: str) -> None:
    """Refuse a device name that is malformed or absent, before any model is loaded."""
    import re

    if device is None or device == "cpu":
        return
    if not re.fullmatch(r"cuda(:\d+)?", device):
        raise SalmapError(f"--device takes cpu, cuda or cuda:N; got {device!r}")
    if runner == "onnx":
        if not onnx_has_cuda():
            raise SalmapError(
                f"--device {device}: this onnxruntime has no CUDA support "
                "(install onnxruntime-gpu, or use --runner torch)"
            )
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        raise SalmapError(f"--device {device}: no such CUDA device here ({count} found)")


def make_runner(model, device: str | None = None) -> Runner:
    """A runner for a loaded model: the ONNX model itself, or a TorchRunner on ``device``."""
    if hasattr(model, "session"):
        if device and device.startswith("cuda"):
            model.use_cuda(device)
        return model
    return TorchRunner(model, device)


def default_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchRunner:
    """Runs a :class:`~salmap.models.model.SaliencyModel`: float32 on CPU, bf16 autocast on CUDA."""

    def __init__(self, model, device=None, bf16: bool | None = None, channels_last: bool = False):
        import torch

        self.torch = torch
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device).eval()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.channels_last = channels_last
        self.bf16 = self.device.type == "cuda" if bf16 is None else bf16
        self.config = model.config

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        if self.channels_last:
            x = x.to(memory_format=torch.channels_last)
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16),
        ):
            maps = self.model.activate(self.model(x))
        return maps[:, 0].float().cpu().numpy()


def _loaded_batches(images: Iterator, batch_size: int, load, pool) -> Iterator[list]:
    """``load`` of each batch of ``images``; with a ``pool``, the next batch is handed to its
    threads before this one is given back (decoded while the model runs), and what is still
    pending is cancelled when the caller stops early or fails."""
    chunks = iter(lambda: list(islice(images, batch_size)), [])
    if pool is None:
        yield from (list(map(load, chunk)) for chunk in chunks)
        return
    pending = [pool.submit(load, image) for image in next(chunks, [])]
    try:
        while pending:
            loaded = [f.result() for f in pending]
            pending = [pool.submit(load, image) for image in next(chunks, [])]
            yield loaded
    finally:
        for f in pending:
            f.cancel()


def predict_stream(
    runner: Runner, images: Iterable, batch_size: int = 8, pool=None, read=None
) -> Iterator:
    """For each image (path, PIL image or array), in order: ``(rgb, density)`` with the
    H x W x 3 uint8 image and its density map at that resolution, or ``(None, error)`` for one
    that could not be read or gave a broken prediction. Images are run ``batch_size`` at a time;
    with a ``pool`` (an Executor) they are decoded in its threads, the next batch while the
    model runs on this one (at most two batches' inputs held). ``read(image)``
    gives ``(rgb, model input, geometry)`` as :func:`read_input` does (its defaults when None);
    ``rgb`` may be None when the caller needs only the map. A long page counts as one image
    and runs its screenfuls in the same batch."""
    read = read or (lambda image: read_input(image, runner.config))

    def load(image):
        try:
            return read(image)
        except DataError as e:
            return e

    for loaded in _loaded_batches(iter(images), batch_size, load, pool):
        ok = [x for x in loaded if not isinstance(x, Exception)]
        # a long page is several inputs (one per screenful), restored together
        counts = [len(x[1]) if x[1].ndim == 4 else 0 for x in ok]
        inputs = [x[1] if n else x[1][None] for x, n in zip(ok, counts)]
        maps = runner(np.concatenate(inputs)) if ok else []
        at = 0
        for x in loaded:
            if isinstance(x, Exception):
                yield None, x
                continue
            n = counts.pop(0)
            prediction, at = (maps[at : at + n] if n else maps[at]), at + max(n, 1)
            try:
                yield x[0], restore(prediction, x[2])
            except DataError as e:
                yield None, e


def predict_images(
    runner: Runner,
    images: Iterable,
    batch_size: int = 8,
    long_page: str = "off",
    viewport: tuple[int, int] | None = None,
) -> list[np.ndarray]:
    """Maps for ``images`` (paths, PIL images or arrays), batched, each at its own resolution;
    the first image that cannot be read or predicted raises its DataError. ``long_page`` and
    ``viewport``: which images are predicted screenful by screenful (:func:`long_page_fold`)."""
    long_page_fold((1, 1), long_page, viewport)  # a bad mode fails before any image is read

    def read(image):
        return read_input(image, runner.config, long_page=long_page, viewport=viewport)

    out = []
    for _, result in predict_stream(runner, images, batch_size, read=read):
        if isinstance(result, Exception):
            raise result
        out.append(result)
    return out
