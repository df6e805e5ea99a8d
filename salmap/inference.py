"""Any image in, its saliency map at the image's own resolution out.

The same preprocessing (:func:`prepare`) and postprocessing (:func:`restore`) serve the PyTorch
model and its ONNX export, so both give the same maps; a runner is anything that maps a
B x 3 x H x W float32 batch to B x H x W maps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import numpy as np

from salmap.baselines import uniform
from salmap.data.images import to_rgb_array
from salmap.data.transforms import Geometry, Normalize, fit, resize_image
from salmap.errors import DataError

Runner = Callable[[np.ndarray], np.ndarray]

# What ``salmap predict`` writes per image: ``<stem><suffix>.<ext>`` for each kind of output.
OUTPUT_SUFFIX = {
    "map": "_map",
    "density": "_density",
    "log-density": "_logdensity",
    "overlay": "_overlay",
    "side-by-side": "_side",
}
OUTPUT_EXTENSION = {
    "map": ".png",
    "density": ".npy",
    "log-density": ".npy",
    "overlay": ".jpg",
    "side-by-side": ".jpg",
}


def prepare(image, config) -> tuple[np.ndarray, Geometry]:
    """An image (path, PIL image or array) -> the model's 3 x H x W input, and its geometry."""
    rgb = to_rgb_array(image)
    g = fit(rgb.shape[:2], config.input_size, config.aspect)
    return Normalize.from_config(config)(resize_image(rgb, g)), g


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


def predict_stream(runner: Runner, images: Iterable, batch_size: int = 8, pool=None) -> Iterator:
    """For each image (path, PIL image or array), in order: ``(rgb, density)`` with the
    H x W x 3 uint8 image and its density map at that resolution, or ``(None, error)`` for one
    that could not be read or gave a broken prediction. Images are run ``batch_size`` at a time;
    with a ``pool`` (an Executor) they are decoded in its threads meanwhile."""

    def load(image):
        try:
            rgb = to_rgb_array(image)
            return rgb, *prepare(rgb, runner.config)
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
