"""The saliency head: optional learnable blur and centre-bias prior, then upsampling.

Both follow what the strongest models on small data do (DeepGaze, SAM): the readout is blurred
by a Gaussian whose width is learned, and a learned centre-bias log-density is added, before the
map is brought to the input size. Both act on logits, so they suit sigmoid and softmax outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from salmap.baselines import CENTRE_SIGMA


class LearnedBlur(nn.Module):
    """Separable Gaussian blur with a learned sigma (a fraction of the map's longer side).

    The kernel size is fixed at build time from ``max_sigma`` so the graph has static shapes
    (exportable); sigma is kept in [``min_sigma``, ``max_sigma``].
    """

    def __init__(
        self,
        size: Sequence[int],
        sigma: float = 0.02,
        min_sigma: float = 0.002,
        max_sigma: float = 0.08,
    ):
        super().__init__()
        self.longer = max(size)
        self.min_sigma, self.max_sigma = min_sigma, max_sigma
        self.radius = max(1, math.ceil(3 * max_sigma * self.longer))
        self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))
        self.register_buffer(
            "offsets",
            torch.arange(-self.radius, self.radius + 1, dtype=torch.float32),
            persistent=False,
        )

    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp().clamp(self.min_sigma, self.max_sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.sigma() * self.longer
        k = torch.exp(-0.5 * (self.offsets / s) ** 2)
        k = (k / k.sum()).to(x.dtype)
        r = self.radius
        x = F.pad(x, (r, r, r, r), mode="replicate")
        x = F.conv2d(x, k.view(1, 1, 1, -1))
        return F.conv2d(x, k.view(1, 1, -1, 1))


class CentreBias(nn.Module):
    """Adds a learned anisotropic Gaussian log-density, ``-w/2 * ((x-mx)^2/sx^2 + (y-my)^2/sy^2)``
    in coordinates running from -1 to 1 across each side. Starts as the benchmarks' centre
    Gaussian: centred, sigma = 0.25 of each side (0.5 here), weight 1."""

    def __init__(self, size: Sequence[int]):
        super().__init__()
        h, w = size
        ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h * 2 - 1
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1
        self.register_buffer("ys", ys.view(1, 1, h, 1), persistent=False)
        self.register_buffer("xs", xs.view(1, 1, 1, w), persistent=False)
        self.mean = nn.Parameter(torch.zeros(2))
        # coordinates span 2 per side here, so the benchmarks' sigma doubles
        self.log_sigma = nn.Parameter(torch.full((2,), math.log(2 * CENTRE_SIGMA)))
        self.weight = nn.Parameter(torch.tensor(1.0))

    def log_prior(self) -> torch.Tensor:
        sx, sy = self.log_sigma.exp()
        dx = (self.xs - self.mean[0]) / sx
        dy = (self.ys - self.mean[1]) / sy
        return -0.5 * self.weight * (dx**2 + dy**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.log_prior().to(x.dtype)


class SaliencyHead(nn.Module):
    """Logits at the decoder's resolution -> (blur) -> (+ centre bias) -> bilinear to input size."""

    def __init__(
        self, decoder_size: Sequence[int], input_size: Sequence[int], blur: bool, centre_bias: bool
    ):
        super().__init__()
        self.input_size = tuple(int(s) for s in input_size)
        self.blur = LearnedBlur(decoder_size) if blur else nn.Identity()
        self.centre_bias = CentreBias(decoder_size) if centre_bias else nn.Identity()

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        x = self.centre_bias(self.blur(logits))
        if tuple(x.shape[-2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)
        return x
