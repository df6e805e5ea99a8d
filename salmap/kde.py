"""Baselines fitted by cross-validation, as pysaliency fits them, so that IG and LL have a
floor and a ceiling that are not set by hand.

- :class:`KdeCentreBias`: the centre bias as a kernel density estimate of the training images'
  fixations in image-relative coordinates (x / width, y / height), its bandwidth and uniform
  weight chosen to maximise the leave-one-image-out log-likelihood of the training fixations
  (each image's fixations scored under the estimate made from all the others).
- :func:`fit_gold`: the blur and uniform weight of the inter-observer gold standard, chosen to
  maximise the leave-one-observer-out log-likelihood over the training images (as pysaliency's
  ``CrossvalidatedGoldStandard``), in place of the fixed 0.025 and 5%.

Both are fitted on a coarse grid of the frame (:data:`GRID` cells a side) over candidate values
(:data:`BANDWIDTHS`, :data:`UNIFORM_WEIGHTS`); the fitted values are recorded in the results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

# cells a side of the relative frame the estimates are fitted and kept on
GRID = 64
# candidate bandwidths, as fractions of the frame's side (relative coordinates)
BANDWIDTHS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2)
# candidate weights of the uniform map mixed in: never 0, or a fixation beyond the kernel's
# reach (it is cut at 4 bandwidths) would score -inf
UNIFORM_WEIGHTS = (0.001, 0.01, 0.03, 0.1, 0.3)


def _counts(relative: np.ndarray, grid: int = GRID) -> np.ndarray:
    """Fixation counts on a ``grid`` x ``grid`` frame of relative coordinates (rows: y)."""
    idx = np.clip((np.asarray(relative) * grid).astype(int), 0, grid - 1)
    out = np.zeros((grid, grid))
    np.add.at(out, (idx[:, 1], idx[:, 0]), 1.0)
    return out


def _bits(density: np.ndarray, counts: np.ndarray) -> float:
    """Summed log-likelihood of ``counts`` under ``density`` (a distribution over the same
    cells), in bits relative to the uniform map."""
    return float((counts * np.log2(density * density.size)).sum())


def _mixed(blurred: np.ndarray, w: float) -> np.ndarray:
    return (1 - w) * blurred / blurred.sum() + w / blurred.size


@dataclass(frozen=True)
class KdeCentreBias:
    """A kernel density estimate of fixations over image-relative coordinates."""

    bandwidth: float  # fraction of the frame's side
    uniform_weight: float
    density: tuple  # GRID x GRID, rows of relative y, summing to 1
    images: int = 0
    fixations: int = 0
    ll: float = 0.0  # the fitted leave-one-image-out LL, bits per fixation over uniform

    @classmethod
    def fit(cls, relative) -> KdeCentreBias:
        """Fit to per-image fixations in relative coordinates (N_i x 2 arrays; None or empty
        for images without any): the bandwidth and uniform weight with the largest
        leave-one-image-out log-likelihood."""
        per_image = [np.asarray(r).reshape(-1, 2) for r in relative if r is not None and len(r)]
        if len(per_image) < 2:
            raise ValueError("a leave-one-image-out fit needs fixations on two images at least")
        own = [_counts(r) for r in per_image]
        total = np.sum(own, axis=0)
        n = total.sum()
        best = (-np.inf, None, None)
        for bw in BANDWIDTHS:
            s = bw * GRID
            blur_total = gaussian_filter(total, s, mode="constant")
            blur_own = [gaussian_filter(c, s, mode="constant") for c in own]
            for w in UNIFORM_WEIGHTS:
                ll = sum(
                    _bits(_mixed(np.maximum(blur_total - b, 1e-300), w), c)
                    for b, c in zip(blur_own, own)
                )
                if ll / n > best[0]:
                    best = (ll / n, bw, w)
        ll, bw, w = best
        density = _mixed(gaussian_filter(total, bw * GRID, mode="constant"), w)
        return cls(bw, w, tuple(map(tuple, density)), len(per_image), int(n), float(ll))

    def map(self, shape) -> np.ndarray:
        """The estimate at ``shape`` = (H, W): H x W float32 summing to 1."""
        from salmap.data.images import resize_array

        h, w = int(shape[0]), int(shape[1])
        m = resize_array(np.asarray(self.density, dtype=np.float32), (h, w))
        m = np.maximum(m, 0)
        return (m / m.sum()).astype(np.float32)

    def predict(self, image: np.ndarray) -> np.ndarray:
        return self.map(np.shape(image)[:2])

    def describe(self) -> dict:
        d = asdict(self)
        d.pop("density")
        return d


@dataclass(frozen=True)
class GoldFit:
    """The gold standard's fitted blur (a fraction of the frame's longer side) and uniform
    weight, and the leave-one-observer-out LL they reached on the fitting images."""

    sigma: float
    uniform_weight: float
    ll: float
    images: int


def fit_gold(dataset, longer_side: int = 128) -> GoldFit:
    """The blur and uniform weight that maximise the leave-one-observer-out log-likelihood of
    the fixations of ``dataset`` (pass a training split), each image scaled to
    ``longer_side`` pixels for the fit; reads fixation files and image headers only."""
    sums: dict[tuple, float] = {}
    total, used = 0, 0
    for i in range(len(dataset)):
        h, w = dataset.image_size(i)
        fix, subj, _ = dataset.fixations_inside(i, (h, w))
        if fix is None or subj is None or len(np.unique(subj)) < 2:
            continue
        k = longer_side / max(h, w)
        shape = (max(1, round(h * k)), max(1, round(w * k)))
        rows = np.clip((fix[:, 1] * k).astype(int), 0, shape[0] - 1)
        cols = np.clip((fix[:, 0] * k).astype(int), 0, shape[1] - 1)
        used += 1
        total += len(fix)
        for who in np.unique(subj):
            mine = subj == who
            others = np.zeros(shape)
            np.add.at(others, (rows[~mine], cols[~mine]), 1.0)
            for bw in BANDWIDTHS:
                blurred = gaussian_filter(others, bw * max(shape), mode="constant")
                for wt in UNIFORM_WEIGHTS:
                    p = _mixed(np.maximum(blurred, 1e-300), wt)
                    ll = np.log2(p[rows[mine], cols[mine]] * p.size).sum()
                    sums[(bw, wt)] = sums.get((bw, wt), 0.0) + ll
    if not used:
        raise ValueError("no image with two observers to fit the gold standard on")
    (bw, wt), ll = max(sums.items(), key=lambda kv: kv[1])
    return GoldFit(bw, wt, float(ll / total), used)
