"""The model's configuration: a plain dataclass with no torch import, so that an ONNX export
can be served with its preprocessing by onnxruntime alone."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from salmap.errors import SalmapError

OUTPUTS = ("sigmoid", "softmax")


@dataclass
class ModelConfig:
    """Everything that defines a model's architecture and preprocessing.

    ``input_size`` is (H, W) in pixels; ``aspect`` is how images are fitted into it ("resize"
    stretches, "pad" keeps the aspect ratio); ``output`` is the activation that turns logits
    into a map: "sigmoid" (per pixel, for BCE as in the seed) or "softmax" (over all pixels:
    a probability distribution, for KLD/CC/NSS). ``mean``/``std`` come from the encoder.
    """

    encoder: str = "resnet50"
    encoder_weights: str | None = "imagenet"
    decoder: str = "seed"
    decoder_args: dict = field(default_factory=dict)
    input_size: tuple[int, int] = (512, 512)
    aspect: str = "resize"
    output: str = "sigmoid"
    centre_bias: bool = False
    blur: bool = False
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    def __post_init__(self):
        self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
        if self.output not in OUTPUTS:
            raise SalmapError(f"model.output must be one of {OUTPUTS}, got {self.output!r}")
        if self.aspect not in ("resize", "pad"):
            raise SalmapError(f"model.aspect must be 'resize' or 'pad', got {self.aspect!r}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise SalmapError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**d)
