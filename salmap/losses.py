"""Training losses on a model's logits, selectable and combinable by weight.

``bce`` compares the per-pixel sigmoid with a target map in [0, 1] (the seed's loss). ``kld``,
``cc``, ``nss`` and ``nll`` treat the softmax over all pixels as a fixation distribution, as the
best published models do (``nll``: the fixations' negative log-likelihood in bits, DeepGaze's). A config such as ``{kld: 1, cc: -0.1, nss: -0.1}`` minimises
``KLD - 0.1 CC - 0.1 NSS``.

Shapes: ``logits`` B x 1 x H x W; ``target`` B x 1 x H x W, the map scaled to a maximum of 1
(any non-negative map works for the distribution losses, which normalise it to sum 1);
``fixations`` B x 1 x H x W, 1 at fixated pixels. Each term returns the batch mean.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from salmap.errors import SalmapError
from salmap.metrics import EPS  # MATLAB's eps, as in the MIT benchmark's KLD


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.float().reshape(x.shape[0], -1)


def bce(logits, target, fixations=None) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def kld(logits, target, fixations=None) -> torch.Tensor:
    """KL(Q || P): Q the target normalised to sum 1, P the softmax of the logits."""
    log_p = torch.log_softmax(_flat(logits), dim=1)
    q = _flat(target)
    q = q / q.sum(dim=1, keepdim=True).clamp_min(EPS)
    return (q * (torch.log(q + EPS) - log_p)).sum(dim=1).mean()


def cc_per_map(maps, target) -> torch.Tensor:
    """Pearson correlation of each of B maps with its target: a tensor of B values."""
    p, q = _flat(maps), _flat(target)
    p = p - p.mean(dim=1, keepdim=True)
    q = q - q.mean(dim=1, keepdim=True)
    return (p * q).sum(1) / (p.norm(dim=1) * q.norm(dim=1)).clamp_min(EPS)


def nss_per_map(maps, fixations) -> torch.Tensor:
    """Mean z-score of each map at its fixated pixels: B values, NaN where a map has none."""
    p = _flat(maps)
    z = (p - p.mean(dim=1, keepdim=True)) / p.std(dim=1, keepdim=True).clamp_min(EPS)
    f = _flat(fixations)
    n = f.sum(dim=1)
    return torch.where(n > 0, (z * f).sum(dim=1) / n.clamp_min(1), torch.full_like(n, float("nan")))


def cc(logits, target, fixations=None) -> torch.Tensor:
    """Pearson correlation between the softmax map and the target."""
    return cc_per_map(torch.softmax(_flat(logits), dim=1), target).mean()


def nss(logits, target, fixations=None) -> torch.Tensor:
    """Mean of the z-scored softmax map at the fixated pixels (images without fixations skipped)."""
    if fixations is None:
        raise SalmapError("the nss loss needs fixations, and this dataset has none")
    values = nss_per_map(torch.softmax(_flat(logits), dim=1), fixations)
    values = values[~torch.isnan(values)]
    return values.mean() if len(values) else logits.new_zeros(()).float()


def nll(logits, target, fixations=None) -> torch.Tensor:
    """Negative log-likelihood of the fixations under the softmax density, in bits per fixation
    relative to the uniform density (as DeepGaze trains; -nll is the LL `salmap evaluate`
    reports): each fixated pixel once, images without fixations skipped."""
    if fixations is None:
        raise SalmapError("the nll loss needs fixations, and this dataset has none")
    logp = torch.log_softmax(_flat(logits).float(), dim=1)
    f = _flat(fixations).float()
    counts = f.sum(dim=1)
    has = counts > 0
    if not has.any():
        return logits.new_zeros(()).float()
    ll = (logp * f).sum(dim=1)[has] / counts[has] + math.log(logp.shape[1])
    return -(ll / math.log(2)).mean()


LOSSES = {"bce": bce, "kld": kld, "cc": cc, "nss": nss, "nll": nll}


class CombinedLoss:
    """``sum(weight * term)`` over the configured terms; also returns each term's value."""

    def __init__(self, weights: dict[str, float]):
        if not weights:
            raise SalmapError("the loss needs at least one term, e.g. {bce: 1}")
        from salmap.plugins import extend

        unknown = set(weights) - set(extend("salmap.losses", LOSSES))
        if unknown:
            raise SalmapError(f"unknown loss {sorted(unknown)[0]!r}; valid: {', '.join(LOSSES)}")
        self.weights = {k: float(v) for k, v in weights.items()}

    def check_output(self, output: str) -> None:
        """BCE trains a per-pixel sigmoid; the distribution losses a softmax over the pixels.
        A model trained with one but served with the other would give maps unlike its training."""
        wanted = {"bce": "sigmoid"}
        wrong = [k for k in self.weights if wanted.get(k, "softmax") != output]
        if wrong:
            raise SalmapError(
                f"loss {wrong[0]!r} does not suit model.output={output!r}: use "
                f"{wanted.get(wrong[0], 'softmax')!r} (bce goes with sigmoid; kld, cc, nss, nll with softmax)"
            )

    @property
    def needs_fixations(self) -> bool:
        return bool({"nss", "nll"} & set(self.weights))

    def __call__(
        self, logits, target, fixations=None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted sum, and each term's value (detached, left on the device: reading
        them would wait for the device at every step)."""
        total, parts = 0.0, {}
        for name, w in self.weights.items():
            value = LOSSES[name](logits, target, fixations)
            parts[name] = value.detach()
            total = total + w * value
        return total, parts
