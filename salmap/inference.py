"""Any image in, its saliency map at the image's own resolution out.

The same preprocessing (:func:`prepare`) and postprocessing (:func:`restore`) serve the PyTorch
model and its ONNX export, so both give the same maps; a runner is anything that maps a
B x 3 x H x W float32 batch to B x H x W maps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import numpy as np

from salmap.baselines import uniform
from salmap.data.images import BACKGROUND, image_size, load_image, to_rgb_array
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
) -> tuple[np.ndarray | None, np.ndarray, Geometry]:
    """An image (path, PIL image or array) -> (the H x W x 3 uint8 image at the output size,
    or None without ``keep_pixels``; the model's 3 x h x w float32 input; the geometry that
    brings a prediction back to the output size).

    The output size is the image's own, or its longer side shrunk to ``max_output_side``. A
    JPEG file is decoded only as large as needed (Pillow's draft mode): twice the model's input
    (never less than the output size, nor more than the image's), or in full when the pixels
    are kept at the image's own size (for overlays)."""
    if isinstance(image, (str, os.PathLike)):
        size = image_size(image)
        full = output_shape(size, max_output_side)
        need = max(max(full), min(max(size), 2 * max(config.input_size)))
        need = max(size) if keep_pixels and not max_output_side else need
        rgb = load_image(image, background, min_side=need, frame=frame)
        if rgb.shape[0] >= full[0] and not max_output_side:
            full = rgb.shape[:2]  # decoded in full (a TIFF page may differ from the header)
    else:
        rgb = to_rgb_array(image, background)
        full = output_shape(rgb.shape[:2], max_output_side)
    g = fit(full, config.input_size, config.aspect)
    x = Normalize.from_config(config)(resize_image(rgb, g))
    if not keep_pixels:
        return None, x, g
    if rgb.shape[:2] != tuple(full):
        from PIL import Image

        rgb = np.asarray(Image.fromarray(rgb).resize((full[1], full[0]), Image.BILINEAR))
    return rgb, x, g


def restore(prediction: np.ndarray, geometry: Geometry) -> np.ndarray:
    """A map at the input size -> a density at the image's resolution (float32, sums to 1).

    A map that is zero everywhere becomes the uniform density; NaN or infinite values (a broken
    model) raise a DataError rather than passing for a plausible map."""
    if not np.isfinite(prediction).all():
        raise DataError("the model's prediction contains NaN or infinite values")
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


def predict_stream(
    runner: Runner, images: Iterable, batch_size: int = 8, pool=None, read=None
) -> Iterator:
    """For each image (path, PIL image or array), in order: ``(rgb, density)`` with the
    H x W x 3 uint8 image and its density map at that resolution, or ``(None, error)`` for one
    that could not be read or gave a broken prediction. Images are run ``batch_size`` at a time;
    with a ``pool`` (an Executor) they are decoded in its threads meanwhile. ``read(image)``
    gives ``(rgb, model input, geometry)`` as :func:`read_input` does (its defaults when None);
    ``rgb`` may be None when the caller needs only the map."""
    read = read or (lambda image: read_input(image, runner.config))

    def load(image):
        try:
            return read(image)
        except DataError as e:
            return e

    images = iter(images)
    while chunk := list(islice(images, batch_size)):
        loaded = list(pool.map(load, chunk) if pool else map(load, chunk))
        ok = [x for x in loaded if not isinstance(x, Exception)]
        maps = iter(runner(np.stack([x[1] for x in ok])) if ok else [])
        for x in loaded:
            if isinstance(x, Exception):
                yield None, x
                continue
            try:
                yield x[0], restore(next(maps), x[2])
            except DataError as e:
                yield None, e


def predict_images(runner: Runner, images: Iterable, batch_size: int = 8) -> list[np.ndarray]:
    """Maps for ``images`` (paths, PIL images or arrays), batched, each at its own resolution;
    the first image that cannot be read or predicted raises its DataError."""
    out = []
    for _, result in predict_stream(runner, images, batch_size):
        if isinstance(result, Exception):
            raise result
        out.append(result)
    return out
