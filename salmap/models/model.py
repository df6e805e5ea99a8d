"""The saliency model: encoder -> decoder -> head, with the configuration that rebuilds it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from salmap.errors import SalmapError
from salmap.models.config import ModelConfig
from salmap.models.decoders import create_decoder
from salmap.models.encoders import create_encoder
from salmap.models.heads import SaliencyHead
from salmap.models.saving import save_model

__all__ = ["MapModel", "ModelConfig", "SaliencyModel"]


class MapModel:
    """What every salmap model offers on top of ``forward`` (logits) and ``config``: the
    activation, prediction at an image's own resolution, and saving."""

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits -> maps: per-pixel sigmoid, or a softmax over each map's pixels (sums to 1)."""
        if self.config.output == "sigmoid":
            return torch.sigmoid(logits)
        # flatten/view_as rather than reshape(B, -1): exports with a dynamic batch
        return torch.softmax(logits.float().flatten(1), dim=1).view_as(logits)

    def predict(self, image, device=None, **page) -> np.ndarray:
        """Saliency of one image (path, PIL image or H x W x 3 array) at its own resolution:
        an H x W float32 probability density (sums to 1). ``page``: ``long_page`` and
        ``viewport`` as :func:`salmap.inference.predict_images` takes them."""
        return self.predict_batch([image], device=device, **page)[0]

    def predict_batch(self, images, batch_size: int = 8, device=None, **page) -> list[np.ndarray]:
        from salmap.inference import TorchRunner, predict_images

        return predict_images(TorchRunner(self, device), images, batch_size, **page)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def save(self, path: str | Path, **kwargs) -> Path:
        return save_model(self, path, **kwargs)


class SaliencyModel(MapModel, nn.Module):
    """``forward`` maps a normalised B x 3 x H x W batch (H, W = ``config.input_size``) to
    B x 1 x H x W logits; :meth:`activate` turns them into maps; :meth:`predict` takes images."""

    def __init__(self, config: ModelConfig, encoder_weights="config"):
        super().__init__()
        weights = config.encoder_weights if encoder_weights == "config" else encoder_weights
        self.encoder = create_encoder(config.encoder, weights)
        stride = self.encoder.output_stride
        h, w = config.input_size
        if h % stride or w % stride:
            ok = (max(stride, round(h / stride) * stride), max(stride, round(w / stride) * stride))
            raise SalmapError(
                f"input size {h}x{w} is not a multiple of the encoder's stride {stride}: "
                f"use e.g. {ok[0]}x{ok[1]}"
            )
        config.mean, config.std = self.encoder.mean, self.encoder.std
        self.config = config
        self.decoder = create_decoder(
            config.decoder,
            self.encoder.out_channels,
            self.encoder.reductions,
            **config.decoder_args,
        )
        ds = self.decoder.output_stride
        self.head = SaliencyHead(
            (h // ds, w // ds), (h, w), blur=config.blur, centre_bias=config.centre_bias
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != self.config.input_size:
            h, w = self.config.input_size
            raise SalmapError(
                f"expected a B x 3 x {h} x {w} batch (the model's input size), got {tuple(x.shape)}"
            )
        return self.head(self.decoder(self.encoder(x)))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Encoder and the rest, for a lower learning rate on pretrained features."""
        enc = list(self.encoder.parameters())
        ids = {id(p) for p in enc}
        return {"encoder": enc, "decoder": [p for p in self.parameters() if id(p) not in ids]}
