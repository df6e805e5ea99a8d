"""Metric-specific saliency maps derived from a probabilistic prediction.

A probabilistic model predicts a density p over the pixels; each metric rewards a different map
made from it (Kuemmerer, Wallis and Bethge, "Saliency benchmarking made easy: separating models,
maps and metrics", ECCV 2018): the map whose *expected* score, with the fixations drawn from p,
is highest. :func:`derived_maps` gives, per metric and metric convention:

- NSS, LL, IG: p itself.
- CC, KLD, SIM, SSIM, EMD: p blurred by the Gaussian that makes the ground-truth density (the
  expected ground truth); for SIM an approximation of the paper's numerically optimised map.
- AUC-Judd, MIT: the rank of p scaled to [0, 1]. Any strictly increasing transform of p has the
  same ROC curve, but MIT's tie-breaking jitter (1e-7 of the map's range) reorders the many
  pixels whose p lies within 1e-7 of the minimum; ranks stay at least 1 / (H W - 1) apart.
  Tuebingen: p (every threshold, no jitter).
- AUC-Borji (MIT only) and sAUC, MIT: these thresholds the min-max normalised map at 0, 0.1, ...,
  1 only, so the ROC curve is 11 points joined by straight lines and the map's *scale* decides
  where they fall: p, log p and rank(p) order the pixels alike yet score 0.834, 0.915 and 0.905.
  :func:`thresholded_map` puts the 10 thresholds where they maximise the expected area: the
  pixels ordered by p / q (q the negatives' distribution: uniform for AUC-Borji; for sAUC the
  other images' fixations), each threshold a set of the most likely pixels, the 10 sets chosen
  by dynamic programming over the model's own expected ROC curve (TP = p-mass, FP = q-mass),
  and the map a staircase of the values 1, 0.9, ..., 0. Nothing is fitted to the data scored.
- sAUC, Tuebingen (every threshold): p / q.

For sAUC, q is a kernel density estimate of the negatives as the metric draws them: under MIT
each other-fixated pixel once, under Tuebingen every other fixation; the kernel is the ground
truth's Gaussian, mixed with the uniform map at weight 1 / (n + 1) for n negatives (one
pseudo-negative spread over the frame, so that pixels far from every negative are not taken as
certain positives). It does not depend on the IG baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from salmap import metrics as M
from salmap.data.fixations import fixation_map

# Where the ROC curve's breakpoints may fall: this many points evenly in FP and as many evenly
# in TP (dense where the curve bends in either direction). The area lost against a search over
# every pixel is below 1e-4 on 512 x 384 maps.
CURVE_POINTS = 256

# What each metric rewards, per convention: "density", "rank", "blurred", "thresholded" (against
# uniform negatives), "thresholded-ratio" and "ratio" (against the sAUC negatives).
DERIVED_MAP = {
    M.MIT: {
        "auc_judd": "rank",
        "auc_borji": "thresholded",
        "sauc": "thresholded-ratio",
    },
    M.TUEBINGEN: {
        "auc_judd": "density",
        "auc_borji": "thresholded",  # MIT's definition under both conventions
        "sauc": "ratio",
    },
}
BLURRED = ("cc", "kld", "sim", "ssim", "emd")


def map_kind(metric: str, convention: str = M.MIT) -> str:
    """The kind of map ``metric`` rewards under ``convention`` (see :data:`DERIVED_MAP`)."""
    if metric in BLURRED:
        return "blurred"
    return DERIVED_MAP[convention].get(metric, "density")


def as_distribution(m: np.ndarray) -> np.ndarray:
    """``m`` as float64 divided by its sum."""
    m = np.asarray(m, dtype=np.float64)
    return m / m.sum()


def rank_map(density: np.ndarray) -> np.ndarray:
    """The rank of each pixel's value scaled to [0, 1] (ties share their mean rank)."""
    v = np.asarray(density, dtype=np.float64).ravel()
    order = np.argsort(v, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(v[order]) != 0])  # where each value begins
    ends = np.r_[starts[1:], len(v)]
    r = np.empty(len(v))
    r[order] = np.repeat((starts + ends - 1) / 2, ends - starts)  # a tie's mean rank
    r -= r.min()
    top = r.max()
    return (r / top if top > 0 else r).reshape(np.shape(density))


def negatives_density(other: np.ndarray, shape: tuple[int, int], sigma_px: float, convention: str):
    """The distribution the sAUC negatives are drawn from, estimated from ``other`` (N x 2
    points in the frame ``shape``): each fixated pixel once under MIT, every point under
    Tuebingen; blurred by ``sigma_px`` and mixed with the uniform map at weight 1 / (n + 1)."""
    hits = fixation_map(other, shape, counts=convention == M.TUEBINGEN).astype(np.float64)
    n = hits.sum()
    kde = as_distribution(gaussian_filter(hits, sigma_px, mode="constant"))
    w = 1.0 / (n + 1.0)
    return (1.0 - w) * kde + w / kde.size


def _best_breakpoints(fp: np.ndarray, tp: np.ndarray, n: int) -> np.ndarray:
    """Indices into the candidate points (fp, tp ascending, strictly inside (0, 1)) of the
    ``n`` breakpoints whose ROC polygon from (0, 0) to (1, 1) has the largest area; repeats
    allowed (a repeated point adds nothing)."""
    m = len(fp)
    # area of the trapezoid from candidate i to candidate j (j >= i); -inf for j < i
    width = fp[None, :] - fp[:, None]
    trap = np.where(width >= 0, width * (tp[None, :] + tp[:, None]) / 2, -np.inf)
    value = fp * tp / 2  # from (0, 0) to the first breakpoint
    back = np.zeros((n, m), dtype=np.int64)
    for k in range(1, n):
        total = value[:, None] + trap  # [i, j]: best path ending at i, then the step to j
        back[k] = np.argmax(total, axis=0)
        value = total[back[k], np.arange(m)]
    value = value + (1 - fp) * (tp + 1) / 2  # on to (1, 1)
    path = [int(np.argmax(value))]
    for k in range(n - 1, 0, -1):
        path.append(int(back[k, path[-1]]))
    return np.array(path[::-1])


def thresholded_map(
    density: np.ndarray, negatives: np.ndarray | None = None, step: float = M.AUC_STEP
) -> np.ndarray:
    """The map with the largest expected AUC under thresholds every ``step`` of the min-max
    normalised map (MIT's AUC-Borji and sAUC): a staircase of the values 1, 1 - step, ..., 0
    over the pixels ordered by p / q, its steps where they maximise the area under the ROC
    curve p predicts. ``density`` is p; ``negatives`` q, the distribution the negatives come
    from (None: uniform, as AUC-Borji's), both H x W and summing to 1."""
    p = np.asarray(density, dtype=np.float64).ravel()
    q = np.full(p.size, 1.0 / p.size) if negatives is None else np.asarray(negatives).ravel()
    n_steps = int(round(1.0 / step))
    if p.size < 2:
        return np.ones(np.shape(density))
    ratio = p / np.maximum(q, np.finfo(np.float64).tiny)
    order = np.argsort(-ratio, kind="stable")
    fp, tp = np.cumsum(q[order]), np.cumsum(p[order])
    fp, tp = fp / fp[-1], tp / tp[-1]
    # candidate top sets: 1 .. size - 1 pixels (the bottom value 0 needs one pixel at least),
    # each ending where the ratio drops, so that equal pixels share a value
    ends = np.flatnonzero(np.diff(ratio[order]) < 0) + 1  # sizes of the sets that split no tie
    if len(ends) == 0:
        return np.zeros(np.shape(density))  # a constant: no information, chance for any AUC
    grid = np.linspace(0, 1, CURVE_POINTS + 2)[1:-1]
    wanted = np.concatenate([np.searchsorted(fp, grid), np.searchsorted(tp, grid)]) + 1
    at = np.clip(np.searchsorted(ends, wanted), 0, len(ends) - 1)
    counts = np.unique(np.concatenate([ends[at], ends[[0, -1]]]))  # pixels in the set
    chosen = counts[_best_breakpoints(fp[counts - 1], tp[counts - 1], n_steps)]
    band = np.searchsorted(chosen, np.arange(p.size), side="right")  # 0 .. n_steps
    values = np.empty(p.size)
    values[order] = (n_steps - band) / n_steps  # the exact values of MIT's thresholds
    return values.reshape(np.shape(density))


def derived_maps(
    density: np.ndarray,
    metrics: Sequence[str],
    *,
    sigma_px: float,
    other: np.ndarray | None = None,
    convention: str = M.MIT,
) -> dict[str, np.ndarray]:
    """For a prediction taken as a probability density p (H x W, non-negative), the map each
    of ``metrics`` rewards under ``convention`` (see the module's docstring). ``sigma_px`` is
    the ground truth's blur in pixels; ``other`` the sAUC negatives (N x 2 points in the
    frame), needed only for sAUC."""
    p = as_distribution(np.clip(density, 0, None))
    made: dict[str, np.ndarray] = {"density": p}
    kinds = {map_kind(m, convention) for m in metrics}
    if "rank" in kinds:
        made["rank"] = rank_map(p)
    if "blurred" in kinds:
        made["blurred"] = as_distribution(gaussian_filter(p, sigma_px, mode="constant"))
    if "thresholded" in kinds:
        made["thresholded"] = thresholded_map(p, None)
    if kinds & {"ratio", "thresholded-ratio"} and other is not None:
        q = negatives_density(other, p.shape, sigma_px, convention)
        if "ratio" in kinds:
            made["ratio"] = p / q
        if "thresholded-ratio" in kinds:
            made["thresholded-ratio"] = thresholded_map(p, q)
    return {m: made.get(map_kind(m, convention), p) for m in metrics}
