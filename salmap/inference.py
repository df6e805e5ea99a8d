"""Any image in, its saliency map at the image's own resolution out.

The same preprocessing (:func:`prepare`) and postprocessing (:func:`restore`) serve the PyTorch
model and its ONNX export, so both give the same maps; a runner is anything that maps a
B x 3 x H x W float32 batch to B x H x W maps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from salmap.data.images import to_rgb_array
from salmap.data.transforms import Geometry, Normalize, fit, resize_image

Runner = Callable[[np.ndarray], np.ndarray]


def prepare(image, config) -> tuple[np.ndarray, Geometry]:
    """An image (path, PIL image or array) -> the model's 3 x H x W input, and its geometry."""
    rgb = to_rgb_array(image)
    g = fit(rgb.shape[:2], config.input_size, config.aspect)
    return Normalize.from_config(config)(resize_image(rgb, g)), g


def restore(prediction: np.ndarray, geometry: Geometry) -> np.ndarray:
    """A map at the input size -> a density at the image's resolution (float32, sums to 1)."""
    m = np.clip(geometry.to_original(prediction), 0, None)
    total = float(m.sum())
    if not np.isfinite(total) or total <= 0:
        return np.full(geometry.shape, 1.0 / (geometry.shape[0] * geometry.shape[1]), np.float32)
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


def predict_images(runner: Runner, images: Iterable, batch_size: int = 8) -> list[np.ndarray]:
    """Maps for ``images`` (paths, PIL images or arrays), batched, each at its own resolution."""
    out: list[np.ndarray] = []
    inputs, geoms = [], []

    def flush():
        maps = runner(np.stack(inputs))
        out.extend(restore(m, g) for m, g in zip(maps, geoms))
        inputs.clear()
        geoms.clear()

    for image in images:
        x, g = prepare(image, runner.config)
        inputs.append(x)
        geoms.append(g)
        if len(inputs) == batch_size:
            flush()
    if inputs:
        flush()
    return out
