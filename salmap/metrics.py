"""The saliency benchmark metrics, as plain functions of one image's maps.

Every function takes a predicted ``saliency_map`` (H x W float array of any scale; negative
values allowed; numpy arrays or torch tensors) and one image's ground truth, and returns a Python
float. Aggregating over images is the caller's job (see :mod:`salmap.evaluate`).

Ground truth comes in two kinds:

- ``fixations``: an N x 2 array of ``(x, y)`` in the saliency map's own pixel frame (x = column,
  y = row, continuous coordinates as in :mod:`salmap.data.fixations`: pixel ``(c, r)`` covers
  ``c <= x < c + 1``), or an H x W binary fixation map (nonzero = fixated; pass a bool array if it
  happens to have exactly two columns). With a binary map the prediction is first resized to the
  map's size, as the MIT code does. A point outside the frame is an error: it means the points are
  in another frame.
- ``density_map``: an H x W non-negative map (the blurred fixations, or a distributed map); the
  prediction is resized to its size first.

The defaults follow the MIT benchmark's MATLAB code (``code_forMetrics``); where the
MIT/Tuebingen benchmark (pysaliency) differs, ``convention="tuebingen"`` gives its variant, and
each docstring says what changes. Differences from the MATLAB code, all documented where they
apply: random draws are seeded; AUC-Judd's tie-breaking jitter is added after min-max
normalisation (so it is 1e-7 of the map's range whatever the map's scale); resizing is bilinear
(antialiased when shrinking) rather than bicubic.

Degenerate input: NaN or infinity anywhere, an empty or non-2-D map, no fixations, or fixations
outside the frame raise ValueError. A constant prediction carries no information and gets the
chance value (AUC 0.5, NSS 0, CC 0), and is taken as the uniform distribution wherever a metric
needs a distribution (SIM, KLD, IG, EMD). Metrics that need a distribution from a map with
negative values shift it to start at zero first (``x - min(x)``); a non-negative map is used as
it is.
"""

from __future__ import annotations

import numpy as np

from salmap.data.fixations import fixations_from_map, pixel_indices, split_inside
from salmap.data.images import resize_array

# MATLAB's eps, the MIT code's regulariser in KLD and information gain.
EPS = float(np.finfo(np.float64).eps)  # 2.2204e-16
# AUC-Judd: uniform noise of this amplitude (relative to the map's range) breaks ties (MIT).
AUC_JUDD_JITTER = 1e-7
# AUC-Borji and shuffled AUC: threshold step on the min-max normalised map, and random splits.
AUC_STEP = 0.1
AUC_SPLITS = 100
# EMD: both maps are shrunk by this factor first (MIT).
EMD_DOWNSIZE = 32
# SSIM: the seed's dynamic range, on min-max normalised maps.
SSIM_DATA_RANGE = 1.0

MIT, TUEBINGEN = "mit", "tuebingen"
CONVENTIONS = (MIT, TUEBINGEN)

__all__ = [
    "AUC_JUDD_JITTER",
    "AUC_SPLITS",
    "AUC_STEP",
    "CONVENTIONS",
    "EMD_DOWNSIZE",
    "EPS",
    "MIT",
    "SSIM_DATA_RANGE",
    "TUEBINGEN",
    "auc_borji",
    "auc_judd",
    "auc_shuffled",
    "cc",
    "density_to_log",
    "emd",
    "info_gain",
    "info_gain_of_log_density",
    "kld",
    "log_likelihood",
    "log_likelihood_of_log_density",
    "normalise_log_density",
    "nss",
    "sim",
    "ssim",
]


# -- input checks and conversions ------------------------------------------------------------
def _array(a) -> np.ndarray:
    """A numpy array from an array-like or a torch tensor (detached, on the CPU)."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _map(a, name: str) -> np.ndarray:
    """A finite, non-empty 2-D float64 map, or a ValueError that says what is wrong."""
    m = _array(a)
    if m.ndim == 3 and 1 in (m.shape[0], m.shape[-1]):
        m = m.squeeze(0 if m.shape[0] == 1 else -1)
    if m.ndim != 2:
        raise ValueError(f"{name} must be a 2-D H x W map, got shape {m.shape}")
    if m.size == 0:
        raise ValueError(f"{name} is empty (shape {m.shape})")
    if m.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {m.dtype}")
    m = m.astype(np.float64)
    if not np.isfinite(m).all():
        bad = int((~np.isfinite(m)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite values")
    return m


def resize_to(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A map at ``shape`` (bilinear, float64), scaled into [-1, 1] first so that float32
    resizing cannot overflow: every metric here is invariant to that positive scale, so use
    this, not a plain resize, to bring a prediction to a ground truth's frame."""
    if m.shape == tuple(shape):
        return m
    top = np.abs(m).max()
    scaled = m / top if top > 0 else m
    return resize_array(scaled, shape).astype(np.float64)


def check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; expected one of {CONVENTIONS}")


def _is_point_array(f: np.ndarray) -> bool:
    return f.ndim == 2 and f.shape[1] == 2 and f.dtype != bool


def _binary_map(a: np.ndarray, name: str) -> np.ndarray:
    """A bool H x W map from a bool or 0/1 array; anything else is a ValueError."""
    if a.dtype == bool and a.ndim == 2:
        return a
    m = _map(a, f"{name} map")
    if not ((m == 0) | (m == 1)).all():
        raise ValueError(
            f"{name}: expected N x 2 (x, y) points or a binary H x W map of 0/1, got shape "
            f"{m.shape} with other values (threshold a map first, e.g. fixmap > 0.5)"
        )
    return m > 0


def _fixated(fixations, shape: tuple[int, int], name: str = "fixations") -> np.ndarray:
    """Flat pixel indices (one per fixation, duplicates kept) of N x 2 points in a frame of
    ``shape``. Points outside the frame are an error."""
    fix = _array(fixations).astype(np.float64)
    if fix.size == 0:
        raise ValueError(f"no {name}: the metric needs at least one")
    inside = split_inside(fix, shape)
    if not inside.all():
        h, w = shape
        raise ValueError(
            f"{int((~inside).sum())} of {len(fix)} {name} fall outside the {w}x{h} map "
            "(or are not finite): are they (x, y) in this map's pixel frame?"
        )
    rows, cols = pixel_indices(fix, shape)
    return rows * shape[1] + cols


def _with_fixations(saliency_map, fixations) -> tuple[np.ndarray, np.ndarray]:
    """(the prediction in the ground truth's frame, flat indices of every fixation).

    N x 2 points are in the prediction's own frame; a binary map sets the frame, and the
    prediction is resized to it."""
    smap = _map(saliency_map, "saliency_map")
    fix = _array(fixations)
    if _is_point_array(fix) or fix.size == 0:
        return smap, _fixated(fix, smap.shape)
    fmap = _binary_map(fix, "fixations")
    points = fixations_from_map(fmap)
    if len(points) == 0:
        raise ValueError("the fixation map has no fixated (nonzero) pixel")
    return resize_to(smap, fmap.shape), _fixated(points, fmap.shape)


def _other_fixated(
    other_fixations, shape: tuple[int, int], name: str = "other_fixations"
) -> np.ndarray:
    """Flat indices of fixations given as points or as a binary map of ``shape`` (other
    images' fixations for sAUC; a log density's fixations)."""
    other = _array(other_fixations)
    if _is_point_array(other) or other.size == 0:
        return _fixated(other, shape, name)
    omap = _binary_map(other, name)
    if omap.shape != tuple(shape):
        raise ValueError(
            f"{name} map is {omap.shape[1]}x{omap.shape[0]} but the frame is "
            f"{shape[1]}x{shape[0]}: they must match"
        )
    flat = np.flatnonzero(omap)
    if len(flat) == 0:
        raise ValueError(f"no {name}: the map has no nonzero pixel")
    return flat


def _with_density(saliency_map, density_map) -> tuple[np.ndarray, np.ndarray]:
    """(the prediction resized to the ground truth's size, the ground-truth map)."""
    gt = _map(density_map, "density_map")
    if gt.min() < 0:
        raise ValueError("density_map has negative values: a ground-truth density must be >= 0")
    if gt.max() == 0:
        raise ValueError("density_map is all zero: it holds no fixation density")
    smap = _map(saliency_map, "saliency_map")
    return resize_to(smap, gt.shape), gt


def _minmax(m: np.ndarray) -> np.ndarray | None:
    """``m`` scaled to [0, 1]; None for a constant map."""
    lo, hi = m.min(), m.max()
    if hi <= lo:
        return None
    return (m - lo) / (hi - lo)


def _distribution(m: np.ndarray, minmax: bool) -> np.ndarray:
    """``m`` as a distribution summing to 1: min-max normalised first (MIT), or else shifted to
    start at 0 only where it has negative values (pysaliency's rule). A constant or all-zero map
    gives the uniform distribution.

    Min-max then dividing by the sum equals subtracting the minimum and dividing by the sum (the
    range cancels), which is what is computed."""
    shifted = m - (m.min() if minmax else min(m.min(), 0.0))
    total = shifted.sum()
    if not total > 0:
        return np.full(m.shape, 1.0 / m.size)
    return shifted / total


# -- AUC family --------------------------------------------------------------------------------
def auc_judd(saliency_map, fixations, *, convention: str = MIT, seed: int = 0) -> float:
    """AUC-Judd: the area under the ROC curve of fixated pixels against all other pixels.

    MIT (default): the map is min-max normalised and 1e-7 uniform jitter breaks ties; each
    fixated pixel counts once; the thresholds are the map's values at the fixated pixels; TP
    rate = i / N_fix, FP rate = (pixels above threshold - i) / (N_pixels - N_fix); trapezoid
    area with (0, 0) and (1, 1) added. ``seed`` seeds the jitter. Joining the points by
    straight lines makes this the exact ROC area plus ``fp_N / (2 N)`` (fp_N the false-positive
    rate at the lowest fixated value): negligible with many fixations, +0.02 to +0.03 for one
    observer's handful.
    Tuebingen: every fixation counts (duplicates too), negatives are all pixels, every threshold
    is used and ties count one half; no jitter.
    A constant map scores 0.5.
    """
    check_convention(convention)
    smap, flat = _with_fixations(saliency_map, fixations)
    s = _minmax(smap)
    if s is None:
        return 0.5
    if convention == TUEBINGEN:
        return _auc_against_all(s.ravel(), s.ravel()[flat])
    flat = np.unique(flat)
    s = s.ravel() + np.random.default_rng(seed).random(s.size) * AUC_JUDD_JITTER
    n_fix, n_pix = len(flat), s.size
    if n_fix == n_pix:
        raise ValueError("every pixel is fixated: AUC-Judd needs some non-fixated pixels")
    thresholds = np.sort(s[flat])  # ascending
    # pixels at or above each threshold: only values >= the lowest threshold can count
    candidates = s[s >= thresholds[0]]
    n_below = np.searchsorted(thresholds, candidates, side="right")  # thresholds <= value
    above = len(candidates) - np.cumsum(np.bincount(n_below, minlength=n_fix + 1))[:n_fix]
    above = above[::-1]  # now for thresholds in descending order, i = 1..N
    i = np.arange(1, n_fix + 1)
    tp = np.concatenate([[0.0], i / n_fix, [1.0]])
    fp = np.concatenate([[0.0], (above - i) / (n_pix - n_fix), [1.0]])
    return float(np.trapezoid(tp, fp))


def _auc_against_all(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Exact ROC area of positives against negatives with ties counted one half (the
    Mann-Whitney statistic), in O(len(negatives) * log(len(unique positives)))."""
    values, inverse = np.unique(positives, return_inverse=True)
    n_vals = len(values)
    le = np.searchsorted(values, negatives, side="right")  # positive values <= each negative
    lt = np.searchsorted(values, negatives, side="left")  # positive values < each negative
    # a negative lies strictly below values[j] when j >= le
    below = np.cumsum(np.bincount(le, minlength=n_vals + 1))[:n_vals]
    equal = np.bincount(lt[le > lt], minlength=n_vals)
    per_value = (below + 0.5 * equal) / len(negatives)
    return float(per_value[inverse].mean())


def _auc_splits(positives: np.ndarray, negatives: np.ndarray, step: float) -> float:
    """Mean ROC area over splits with thresholds every ``step`` on a [0, 1] map (the MIT
    AUC-Borji and sAUC rule). ``negatives`` is n_splits x n_negatives."""
    n_steps = int(round(1.0 / step))
    # descending thresholds 1, 0.9, ..., 0: those above a split's maximum only repeat (0, 0)
    thresholds = np.arange(n_steps, -1, -1) / n_steps
    tp = (positives[None, :] >= thresholds[:, None]).mean(axis=1)
    fp = (negatives[:, :, None] >= thresholds).mean(axis=1)
    zero, one = np.zeros((len(negatives), 1)), np.ones((len(negatives), 1))
    fp = np.concatenate([zero, fp, one], axis=1)
    tp = np.concatenate([[0.0], tp, [1.0]])
    return float(np.trapezoid(np.broadcast_to(tp, fp.shape), fp, axis=1).mean())


def auc_borji(
    saliency_map, fixations, n_splits: int = AUC_SPLITS, seed: int = 0, *, step: float = AUC_STEP
) -> float:
    """AUC-Borji: ROC area of fixated pixels against uniformly random pixels.

    MIT definition (the only one; the Tuebingen benchmark's AUC is :func:`auc_judd` with
    ``convention="tuebingen"``): min-max normalised map; each fixated pixel once; per split as
    many random pixels as fixated ones, drawn with replacement from the whole map; thresholds
    every ``step`` (0.1); mean area over ``n_splits`` splits, drawn from ``seed``.
    A constant map scores 0.5.
    """
    smap, flat = _with_fixations(saliency_map, fixations)
    s = _minmax(smap)
    if s is None:
        return 0.5
    flat = np.unique(flat)
    s = s.ravel()
    rng = np.random.default_rng(seed)
    random_pixels = rng.integers(0, s.size, size=(n_splits, len(flat)))
    return _auc_splits(s[flat], s[random_pixels], step)


def auc_shuffled(
    saliency_map,
    fixations,
    other_fixations,
    n_splits: int = AUC_SPLITS,
    seed: int = 0,
    *,
    step: float = AUC_STEP,
    convention: str = MIT,
) -> float:
    """Shuffled AUC: ROC area of this image's fixations against other images' fixations, so a
    map that only predicts the centre bias scores about 0.5 (a little more under the MIT rule
    when the other fixations are dense: counting each pixel once spreads them out).

    ``other_fixations``: N x 2 points or an H x W binary map in the fixations' frame.
    MIT (default): min-max normalised map; each fixated pixel once, on both sides; per split
    min(N_fix, N_other) other pixels drawn without replacement; thresholds every ``step``; mean
    over ``n_splits`` splits drawn from ``seed``.
    Tuebingen: every fixation of this image against every other fixation (duplicates count),
    all thresholds, ties one half.
    A constant map scores 0.5.
    """
    check_convention(convention)
    smap, flat = _with_fixations(saliency_map, fixations)
    other = _other_fixated(other_fixations, smap.shape)
    s = _minmax(smap)
    if s is None:
        return 0.5
    s = s.ravel()
    if convention == TUEBINGEN:
        return _auc_against_all(s[other], s[flat])
    flat, other = np.unique(flat), np.unique(other)
    n = min(len(flat), len(other))
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.choice(len(other), size=n, replace=False) for _ in range(n_splits)])
    return _auc_splits(s[flat], s[other[picks]], step)


# -- fixation-based scores ---------------------------------------------------------------------
def nss(saliency_map, fixations, *, convention: str = MIT) -> float:
    """Normalised scanpath saliency: the mean of the z-scored map at the fixations.

    MIT (default): standard deviation with N - 1 (MATLAB ``std``); each fixated pixel once.
    Tuebingen: population standard deviation (N); every fixation counts, duplicates too.
    A constant map scores 0.
    """
    check_convention(convention)
    smap, flat = _with_fixations(saliency_map, fixations)
    if smap.max() == smap.min():  # not std == 0: a constant's std can round to 1e-22
        return 0.0
    std = smap.std(ddof=1 if convention == MIT and smap.size > 1 else 0)
    if convention == MIT:
        flat = np.unique(flat)
    return float(((smap.ravel()[flat] - smap.mean()) / std).mean())


def info_gain(saliency_map, baseline_map, fixations, *, convention: str = MIT) -> float:
    """Information gain over ``baseline_map`` (usually the centre bias), in bits per fixation:
    the mean over fixations of ``log2(EPS + p) - log2(EPS + b)``.

    MIT (default): both maps min-max normalised, then divided by their sums; each fixated pixel
    once. Tuebingen: the maps are taken as densities as they are (divided by their sums, no
    min-max; negative maps shifted to start at 0); every fixation counts.
    Both maps are resized to the fixations' frame; a constant map is the uniform distribution.
    """
    check_convention(convention)
    smap, flat = _with_fixations(saliency_map, fixations)
    base = resize_to(_map(baseline_map, "baseline_map"), smap.shape)
    if convention == MIT:
        flat = np.unique(flat)
    p = _distribution(smap, minmax=convention == MIT).ravel()[flat]
    b = _distribution(base, minmax=convention == MIT).ravel()[flat]
    return float(np.mean(np.log2(EPS + p) - np.log2(EPS + b)))


def log_likelihood(saliency_map, fixations, *, convention: str = MIT) -> float:
    """Log-likelihood of the fixations under the map taken as a distribution, in bits per
    fixation relative to the uniform model (0 for the uniform map): the information gain over
    the uniform map, with :func:`info_gain`'s conventions. For a probabilistic model's log
    density use :func:`log_likelihood_of_log_density`, which is exact."""
    smap = _map(saliency_map, "saliency_map")
    return info_gain(smap, np.ones_like(smap), fixations, convention=convention)


# -- probabilistic models: log densities -------------------------------------------------------
def normalise_log_density(log_density) -> np.ndarray:
    """An H x W log density (natural log, any additive constant) normalised so that its
    exponential sums to 1, as float64. NaN or +inf is a ValueError; -inf (zero mass) is
    allowed where some pixel has mass."""
    ld = _array(log_density).astype(np.float64)
    if ld.ndim != 2 or ld.size == 0:
        raise ValueError(f"a log density must be a 2-D H x W map, got shape {ld.shape}")
    if np.isnan(ld).any() or np.isposinf(ld).any():
        raise ValueError("the log density contains NaN or +inf")
    top = ld.max()
    if not np.isfinite(top):
        raise ValueError("the log density is -inf everywhere: it holds no mass")
    return ld - (top + np.log(np.exp(ld - top).sum()))


def density_to_log(density) -> np.ndarray:
    """The natural-log density of a non-negative map taken as a distribution (divided by its
    sum); a pixel of zero mass is -inf."""
    d = _map(density, "density")
    if d.min() < 0:
        raise ValueError("a density cannot have negative values")
    with np.errstate(divide="ignore"):
        return normalise_log_density(np.log(d))


def log_likelihood_of_log_density(log_density, fixations) -> float:
    """Log-likelihood of the fixations under a probabilistic model, in bits per fixation
    relative to the uniform model: the mean over fixations (every one counts, as in pysaliency
    and the MIT/Tuebingen benchmark) of ``log2 p(x) + log2(H W)``. ``log_density`` is the
    model's natural-log density per pixel of the fixations' frame (normalised here);
    ``fixations`` N x 2 (x, y) points in that frame, or a binary map of its shape (each
    fixated pixel once). A fixation on a pixel of zero mass gives
    -inf, as it must."""
    ld = normalise_log_density(log_density)
    flat = _other_fixated(fixations, ld.shape, "fixations")
    return float(ld.ravel()[flat].mean() / np.log(2) + np.log2(ld.size))


def info_gain_of_log_density(log_density, baseline_log_density, fixations) -> float:
    """Information gain of a probabilistic model over a baseline model, in bits per fixation:
    the mean over fixations of ``log2 p(x) - log2 b(x)``, both natural-log densities of the
    fixations' frame (normalised here; the baseline is resized to it through its density)."""
    ld = normalise_log_density(log_density)
    base = normalise_log_density(baseline_log_density)
    if base.shape != ld.shape:
        base = density_to_log(resize_to(np.exp(base), ld.shape))
    flat = _other_fixated(fixations, ld.shape, "fixations")
    return float((ld.ravel()[flat] - base.ravel()[flat]).mean() / np.log(2))


# -- distribution-based scores -----------------------------------------------------------------
def cc(saliency_map, density_map) -> float:
    """Pearson's linear correlation coefficient between the two maps (MIT and Tuebingen agree).

    Symmetric, and invariant to affine rescaling of either map. A constant prediction scores 0;
    a constant ground truth is a ValueError (the correlation is undefined).
    """
    smap, gt = _with_density(saliency_map, density_map)
    if gt.max() == gt.min():
        raise ValueError("density_map is constant: CC is undefined")
    if smap.max() == smap.min():
        return 0.0
    a, b = (smap - smap.mean()).ravel(), (gt - gt.mean()).ravel()
    # einsum rather than np.dot: a threaded BLAS dot was 100x slower on a busy machine
    ab, aa, bb = (np.einsum("i,i->", u, v) for u, v in ((a, b), (a, a), (b, b)))
    return float(ab / np.sqrt(aa * bb))


def sim(saliency_map, density_map, *, convention: str = MIT) -> float:
    """Similarity (histogram intersection): the sum of the element-wise minimum of the two maps
    as distributions; 1 for identical distributions, 0 for disjoint ones.

    MIT (default): each map min-max normalised, then divided by its sum. Tuebingen: divided by
    its sum only (no min-max). A constant map is the uniform distribution.
    """
    check_convention(convention)
    smap, gt = _with_density(saliency_map, density_map)
    minmax = convention == MIT
    return float(np.minimum(_distribution(smap, minmax), _distribution(gt, minmax)).sum())


def kld(saliency_map, density_map) -> float:
    """Kullback-Leibler divergence of the prediction P from the ground truth Q, in nats:
    ``sum(Q * log(EPS + Q / (P + EPS)))`` with both maps divided by their sums (MIT; the
    Tuebingen benchmark uses the same formula). Lower is better; 0 for identical maps.

    Not symmetric, and not invariant to adding a constant. A constant (or all-zero) prediction
    is the uniform distribution; a prediction with negative values is shifted to start at 0.
    """
    smap, gt = _with_density(saliency_map, density_map)
    p = _distribution(smap, minmax=False)
    q = gt / gt.sum()
    return float((q * np.log(EPS + q / (p + EPS))).sum())


def ssim(saliency_map, density_map) -> float:
    """Structural similarity of the two maps (the seed's metric), from torchmetrics'
    ``structural_similarity_index_measure`` with its defaults (11 x 11 Gaussian window, sigma
    1.5) and ``data_range=1.0`` after min-max normalising both maps; a constant map becomes all
    zeros. Both sides must be at least 11 pixels. Runs torch on one thread (restored after).
    """
    import torch
    from torchmetrics.functional.image import structural_similarity_index_measure

    smap, gt = _with_density(saliency_map, density_map)
    if min(gt.shape) < 11:
        raise ValueError(f"SSIM needs maps of at least 11 x 11 pixels, got {gt.shape}")
    maps = [_minmax(m) if m.max() > m.min() else np.zeros_like(m) for m in (smap, gt)]
    x, y = (torch.from_numpy(m.astype(np.float32))[None, None] for m in maps)
    # One thread: a single map gains little from more, and on a loaded machine the thread
    # pool's waits made it 3-15x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return float(structural_similarity_index_measure(x, y, data_range=SSIM_DATA_RANGE))
    finally:
        torch.set_num_threads(threads)


def emd(saliency_map, density_map, *, downsize: int = EMD_DOWNSIZE) -> float:
    """Earth mover's distance between the two maps as distributions, in pixels of the maps
    shrunk by ``downsize`` (MIT: 32), with Euclidean ground distance; lower is better.

    Computed exactly with POT (``pip install pot``). Both maps are divided by their sums (a map
    with negative values shifted to start at 0; a constant map is uniform). Symmetric.
    """
    try:
        import ot
    except ImportError:
        raise ImportError(
            "emd needs the POT optimal-transport library: pip install pot (or salmap[emd])"
        ) from None
    smap, gt = _with_density(saliency_map, density_map)
    small = (-(-gt.shape[0] // downsize), -(-gt.shape[1] // downsize))
    q = _distribution(resize_to(gt, small), minmax=False)
    p = _distribution(resize_to(smap, small), minmax=False)
    rows, cols = np.indices(small)
    xy = np.stack([rows.ravel(), cols.ravel()], axis=1).astype(np.float64)
    cost = ot.dist(xy, xy, metric="euclidean")
    return float(ot.emd2(p.ravel(), q.ravel(), cost))
