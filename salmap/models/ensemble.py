"""An ensemble of saliency models: a mixture of their probability maps.

DeepGaze IIE's finding: readouts on several ImageNet backbones, averaged in probability,
generalise better and are better calibrated than any one of them. The members share one
preprocessing (input size, aspect mode, normalisation), so one batch feeds them all, and each
has a softmax output; the ensemble's logits are the log of the weighted mean of their maps, so
``activate`` (a softmax) gives that mean and prediction, export and serving work unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import nn

from salmap.errors import SalmapError
from salmap.models.model import MapModel, SaliencyModel


def ensemble_config(members: Sequence[SaliencyModel]):
    """The members' shared preprocessing as one ModelConfig; ``encoder`` and ``decoder`` list
    the members' ("efficientnet_lite0+efficientnet_lite2"). Refuses members that differ in
    what the batch they are fed must be, or that do not output a softmax map."""
    first = members[0].config
    for m in members:
        c = m.config
        if c.output != "softmax":
            raise SalmapError(f"an ensemble averages softmax maps; a member's output is {c.output}")
        for key in ("input_size", "aspect", "mean", "std"):
            a, b = getattr(c, key), getattr(first, key)
            if not _same(a, b):
                raise SalmapError(f"ensemble members differ in {key} ({a} vs {b})")
    return dataclasses.replace(
        first,
        encoder="+".join(m.config.encoder for m in members),
        decoder="+".join(m.config.decoder for m in members),
        decoder_args={},
    )


def _same(a, b) -> bool:
    if a is None or b is None or isinstance(a, str):
        return a == b
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-6) for x, y in zip(a, b))


class EnsembleModel(MapModel, nn.Module):
    """``members`` (SaliencyModels with softmax outputs) mixed with ``weights`` (default: equal;
    normalised to sum to 1). With ``flip_average`` each member also sees the mirror image and
    its map, mirrored back, takes half the member's weight. ``forward`` maps a normalised
    B x 3 x H x W batch to B x 1 x H x W log-densities of the mixture."""

    def __init__(
        self,
        members: Sequence[SaliencyModel],
        weights: Sequence[float] | None = None,
        flip_average: bool = False,
    ):
        super().__init__()
        if not members:
            raise SalmapError("an ensemble needs at least one member")
        weights = [1.0] * len(members) if weights is None else [float(w) for w in weights]
        if len(weights) != len(members) or min(weights) < 0 or sum(weights) <= 0:
            raise SalmapError(
                f"ensemble weights must be {len(members)} non-negative numbers, got {weights}"
            )
        self.config = ensemble_config(members)
        self.members = nn.ModuleList(members)
        self.flip_average = bool(flip_average)
        total = sum(weights)
        self.weights = [w / total for w in weights]
        # members that are shipped models, saved by name rather than copied (index: name)
        self.shipped: dict[int, str] = {}
        self.register_buffer(
            "log_weights",
            torch.tensor([math.log(w) if w else -math.inf for w in self.weights]),
            persistent=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        if self.flip_average:  # the image and its mirror image in one batch
            x = torch.cat([x, x.flip(-1)])
        logp = []
        for m in self.members:
            lp = torch.log_softmax(m(x).float().flatten(1), dim=1).view(x.shape[0], 1, *x.shape[2:])
            if self.flip_average:
                lp = torch.stack([lp[:b], lp[b:].flip(-1)]).logsumexp(0) - math.log(2)
            logp.append(lp)
        weights = self.log_weights.view(-1, 1, 1, 1, 1)
        return torch.logsumexp(torch.stack(logp) + weights, dim=0)

    def description(self) -> dict:
        """What the saved file records to rebuild it: each member's config (or, for a member
        in :attr:`shipped`, the shipped model's name) and the weights."""
        members = [
            {"shipped": self.shipped[k]} if k in self.shipped else m.config.to_dict()
            for k, m in enumerate(self.members)
        ]
        return {"members": members, "weights": self.weights, "flip_average": self.flip_average}
