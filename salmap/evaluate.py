"""Scoring predictors on a dataset split: per-image metric rows, bootstrap intervals, a summary
and a Markdown table.

A predictor is any callable ``predict(image) -> map``: an H x W x 3 uint8 image in, an H x W
float map at the image's resolution out (another size is resized to it). Two other kinds are
understood: a :class:`PredictionFolder` of maps someone else produced, matched by file stem, and
:data:`GOLD`, the inter-observer gold standard.

How an image is scored (:func:`score_image`):

- The evaluation frame is the image at its own resolution, or scaled so that its longer side is
  ``longer_side`` pixels (fixations scaled with it, those that leave it dropped).
- Fixation metrics (AUC-Judd, AUC-Borji, sAUC, NSS, IG) use the fixations in that frame.
- Distribution metrics (CC, SIM, KLD, SSIM, EMD) compare with the dataset's distributed map
  where it ships one (resized to the frame), else with the fixation density made in the frame
  by :func:`~salmap.data.fixations.density_map` with the dataset's sigma.
- sAUC's negatives are the fixations of every other image of the same split (the whole split,
  also when only some of its images are scored: see :func:`sauc_negatives`), taken in
  image-relative coordinates (x / width, y / height) and mapped into this image's frame.
- IG's baseline is by default the fixed centre Gaussian (:func:`salmap.baselines.centre_gaussian`),
  so the figure does not depend on which images a centre bias was fitted to; ``ig_baseline``
  chooses another (uniform, or a centre bias fitted on the training split). LL is the
  log-likelihood in bits per fixation relative to the uniform map (IG over uniform).
- A :class:`LogDensity` (a probabilistic model's natural-log density, e.g. a folder read with
  ``log_density=True``) is scored exactly for LL and IG (every fixation counts, no min-max, no
  EPS), and as its density for the other metrics. With ``derived=True`` every prediction is
  taken as a density and each metric gets the map that it rewards (:mod:`salmap.derived`).
- The gold standard scores each observer's fixations with the density of the other observers
  (leave one subject out, averaged over observers), and the distribution metrics between the
  densities of two halves of the observers. Its LL and IG use the others' density regularised
  by a uniform mixture (:data:`GOLD_UNIFORM_WEIGHT`), averaged over all fixations.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing as mp
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from salmap import derived as D
from salmap import metrics as M
from salmap.baselines import (
    centre_gaussian,
    leave_one_subject_out,
    relative_fixations,
    split_halves,
)
from salmap.data.base import SplitRule
from salmap.data.fixations import (
    DENSITY_SIGMA,
    density_map,
    first_of_each,
    fixation_map,
    pixel_indices,
)
from salmap.data.folder import MAP_EXTENSIONS
from salmap.data.images import load_map
from salmap.data.transforms import apply_geometry, fit
from salmap.errors import DataError
from salmap.files import atomic_write_bytes
from salmap.inference import OUTPUT_SUFFIX

# The metrics that per-fixation averaging weights by each image's fixations.
PER_FIXATION = ("ll", "ig")
# LL and IG rules: "exact" (a model's density as predicted, every fixation) or "mit"
EXACT, MIT_RULE = "exact", "mit"
LL_RULES = (EXACT, MIT_RULE)
# ``derived="fixations"``: derived maps for the fixation metrics only (see :func:`score_map`).
FIXATIONS = "fixations"
# A row's status: scored, no prediction, could not be scored, or not applicable (the gold
# standard of an image with fewer than two observers).
STATUSES = ("ok", "missing", "error", "skipped")
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """One metric of the registry: its column title, the ground truth it needs ("fixations":
    called only where the image has some; "density": the truth's map), and
    ``score(smap, truth, fixations, convention) -> float | None`` (None: not available for this
    image), with ``smap`` H x W in the truth's frame and ``fixations`` N x 2 in that frame.
    Packages add metrics through the ``salmap.metrics`` entry points (:mod:`salmap.plugins`)."""

    label: str
    needs: str  # "fixations" or "density"
    score: Callable[..., float | None]
    higher_is_better: bool = True


def _sauc(smap, t, fix, convention):
    if t.other is None:
        return None
    negatives = t.other_map if convention == M.MIT else t.other
    return M.auc_shuffled(smap, fix, negatives, convention=convention)


METRICS: dict[str, Metric] = {
    "auc_judd": Metric("AUC-Judd", "fixations", lambda m, t, f, c: M.auc_judd(m, f, convention=c)),
    "auc_borji": Metric("AUC-Borji", "fixations", lambda m, t, f, c: M.auc_borji(m, f)),
    "sauc": Metric("sAUC", "fixations", _sauc),
    "nss": Metric("NSS", "fixations", lambda m, t, f, c: M.nss(m, f, convention=c)),
    "ig": Metric("IG", "fixations", lambda m, t, f, c: M.info_gain(m, t.baseline, f, convention=c)),
    "ll": Metric("LL", "fixations", lambda m, t, f, c: M.log_likelihood(m, f, convention=c)),
    "cc": Metric("CC", "density", lambda m, t, f, c: M.cc(m, t.density)),
    "sim": Metric("SIM", "density", lambda m, t, f, c: M.sim(m, t.density, convention=c)),
    "kld": Metric("KLD", "density", lambda m, t, f, c: M.kld(m, t.density), False),
    "ssim": Metric("SSIM", "density", lambda m, t, f, c: M.ssim(m, t.density)),
    "emd": Metric("EMD", "density", lambda m, t, f, c: M.emd(m, t.density), False),
}
# The MIT benchmark's metrics. SSIM (the seed's metric) and EMD are on request: on 2 CPU cores
# each costs more than all the others together (SSIM about 0.1 s for a 512 x 512 map).
DEFAULT_METRICS = tuple(m for m in METRICS if m not in ("ssim", "emd"))


def check_metrics(names: Iterable[str]) -> tuple[str, ...]:
    """The metric names in canonical order (salmap's, then plugins'); a ValueError naming the
    valid ones otherwise."""
    from salmap.plugins import extend

    extend("salmap.metrics", METRICS)
    names = list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; expected some of {', '.join(METRICS)}")
    return tuple(m for m in METRICS if m in names)


# -- predictors that are not plain callables ---------------------------------------------------
class GoldStandard:
    """Marker for the inter-observer gold standard (needs subject ids)."""

    def __repr__(self) -> str:
        return "GOLD"


GOLD = GoldStandard()


class PredictionFolder:
    """Saliency maps someone else produced, one file per image (PNG, JPG, .npy, ...), matched
    to an image by its id (relative path without extension) or, failing that, by file stem.
    ``salmap predict``'s own outputs are understood: ``<stem>_density.npy`` (preferred) or
    ``<stem>_map.png`` match ``<stem>``, and its overlays, side-by-sides and fogs are ignored.
    A map of another size than its image is resized to it when it has the image's aspect ratio
    (see :func:`check_prediction`)."""

    OUTPUT_SUFFIXES = tuple(OUTPUT_SUFFIX[k] for k in ("density", "map"))  # best first
    IGNORED_SUFFIXES = tuple(
        OUTPUT_SUFFIX[k] for k in ("overlay", "side-by-side", "fog", "log-density")
    )

    def __init__(self, folder: str | Path, log_density: bool = False):
        """``log_density``: the folder holds ``.npy`` natural-log densities (``salmap predict
        --save log-density`` writes ``<stem>_logdensity.npy``), read as :class:`LogDensity`."""
        self.folder = Path(folder)
        self.log_density = log_density
        if not self.folder.is_dir():
            raise DataError(f"{self.folder}: not a folder of predictions")
        suffixes = (OUTPUT_SUFFIX["log-density"],) if log_density else self.OUTPUT_SUFFIXES
        ignored = tuple(x for x in self.IGNORED_SUFFIXES if x not in suffixes)
        extensions = (".npy",) if log_density else MAP_EXTENSIONS
        found: dict[str, tuple[int, Path]] = {}
        for p in sorted(self.folder.rglob("*")):
            if not p.is_file() or p.name.startswith(".") or p.suffix.lower() not in extensions:
                continue
            key = p.relative_to(self.folder).with_suffix("").as_posix()
            if key.endswith(ignored):
                continue
            rank = len(suffixes)
            for r, suffix in enumerate(suffixes):
                if key.endswith(suffix):
                    key, rank = key[: -len(suffix)], r
                    break
            if key in found and found[key][0] == rank:
                raise DataError(f"two predictions for {key}: {found[key][1]} and {p}")
            if key not in found or rank < found[key][0]:
                found[key] = (rank, p)
        self.by_id = {k: p for k, (_, p) in found.items()}
        by_stem: dict[str, list[Path]] = {}
        for k, p in self.by_id.items():
            by_stem.setdefault(Path(k).name, []).append(p)
        self.by_stem = {s: ps[0] for s, ps in by_stem.items() if len(ps) == 1}
        if not self.by_id:
            raise DataError(f"{self.folder}: no saliency maps ({', '.join(extensions)})")

    def find(self, image_id: str) -> Path | None:
        return self.by_id.get(image_id) or self.by_stem.get(Path(image_id).name)

    def load(self, image_id: str) -> np.ndarray | LogDensity | None:
        """The map for ``image_id`` as stored (any size), or None where there is none; an
        unreadable file is a DataError naming it."""
        path = self.find(image_id)
        if path is None:
            return None
        if not self.log_density:
            try:
                return load_map(path)
            except DataError as e:
                if "negative values" in str(e):
                    raise DataError(f"{e}; if it is a log density, pass --log-density") from None
                raise
        try:
            log = np.load(path, allow_pickle=False)
            if looks_like_density(log):
                raise ValueError(
                    "its values are all >= 0 and sum to 1, so it is a density, not the log of "
                    "one: score it without --log-density, or save np.log(density)"
                )
            return LogDensity(log)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: not a log density ({e})") from None

    def missing(self, ids: Iterable[str]) -> list[str]:
        """The ids among ``ids`` this folder has no map for."""
        return [i for i in ids if self.find(i) is None]

    def __repr__(self) -> str:
        return f"PredictionFolder({str(self.folder)!r}, {len(self.by_id)} maps)"


def looks_like_density(values: np.ndarray) -> bool:
    """Whether an array said to be a log density is a density instead: every value finite and
    >= 0 and their sum 1 (to 1e-3). A real log density sums to 1 only through its exponential,
    and its values are <= 0 once normalised."""
    v = np.asarray(values)
    if v.dtype.kind not in "fiu" or v.size == 0 or not np.isfinite(v).all() or v.min() < 0:
        return False
    return abs(float(v.sum(dtype=np.float64)) - 1.0) < 1e-3


class LogDensity:
    """A probabilistic model's prediction: an H x W natural-log density (any additive constant;
    normalised here), the native output of DeepGaze and pysaliency."""

    def __init__(self, log: np.ndarray):
        self.log = M.normalise_log_density(log)

    @property
    def shape(self) -> tuple[int, int]:
        return self.log.shape

    def in_frame(self, shape: tuple[int, int]) -> np.ndarray:
        """The log density at ``shape``: resized through its density, then renormalised."""
        if self.log.shape == tuple(shape):
            return self.log
        return M.density_to_log(M.resize_to(np.exp(self.log), shape))


AnyPredictor = Predictor | PredictionFolder | GoldStandard


# -- one image's ground truth ------------------------------------------------------------------
@dataclass
class Truth:
    """One image in the evaluation frame, with everything the metrics compare against."""

    id: str
    image: np.ndarray  # H x W x 3 uint8
    fixations: np.ndarray | None  # N x 2 (x, y) in the frame
    subjects: np.ndarray | None
    density: np.ndarray  # H x W ground truth for the distribution metrics
    other: np.ndarray | None  # N x 2 other images' fixations in the frame (sAUC negatives)
    baseline: np.ndarray  # H x W information-gain baseline (a distribution: sums to 1)
    sigma: float = DENSITY_SIGMA
    category: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.density.shape

    @cached_property
    def other_map(self) -> np.ndarray | None:
        """The sAUC negatives as a binary map: the MIT rule counts a pixel once anyway, and a
        map is cheaper to score than tens of thousands of points."""
        return None if self.other is None else fixation_map(self.other, self.shape)


def rescale(sample: dict, longer_side: int, sigma: float | None = None) -> dict:
    """A sample scaled so that its image's longer side is ``longer_side`` pixels: image,
    fixations (those leaving the frame dropped, with their subjects) and map; with ``sigma``,
    a fixation density is made in the new frame (see :func:`apply_geometry`)."""
    h, w = sample["image"].shape[:2]
    s = longer_side / max(h, w)
    return apply_geometry(
        sample, fit((h, w), (max(1, round(h * s)), max(1, round(w * s))), "resize"), sigma
    )


def ground_truth(
    sample: dict,
    other: np.ndarray | None,
    sigma: float = DENSITY_SIGMA,
    baseline: Callable[[tuple[int, int]], np.ndarray] = centre_gaussian,
) -> Truth:
    """The :class:`Truth` of a sample in its evaluation frame, with its map (the distributed
    one, or the fixation density of blur ``sigma`` that the sample was made with) and the
    information-gain baseline, ``baseline(shape)``."""
    shape = sample["image"].shape[:2]
    fix = sample.get("fixations")
    fix = None if fix is None or len(fix) == 0 else fix
    density = sample["saliency_map"]
    if density is None:
        raise ValueError(f"{sample['id']}: the sample has no map; make it with its density")
    return Truth(
        id=sample["id"],
        category=sample.get("category"),
        image=sample["image"],
        fixations=fix,
        subjects=None if fix is None else sample.get("subjects"),
        density=density,
        other=other,
        baseline=baseline(shape),
        sigma=sigma,
    )


class OtherFixations:
    """The sAUC negatives: every other image's fixations, kept in relative coordinates and
    placed in a given image's frame on request. ``owners`` names the image of each entry of
    ``relative`` (default: its index), so that the pool may hold more images than are scored."""

    def __init__(self, relative: Sequence[np.ndarray | None], owners: Sequence | None = None):
        parts = [np.empty((0, 2)) if r is None else np.asarray(r).reshape(-1, 2) for r in relative]
        self.points = np.concatenate(parts) if parts else np.empty((0, 2))
        names = np.asarray(range(len(parts)) if owners is None else list(owners), dtype=object)
        self.owner = np.repeat(names, [len(p) for p in parts])

    def points_for(self, owner, shape: tuple[int, int]) -> np.ndarray | None:
        """N x 2 fixations of every image but ``owner``, in a frame of ``shape`` = (H, W)."""
        rel = self.points[self.owner != owner]
        if len(rel) == 0:
            return None
        size = np.array([shape[1], shape[0]], dtype=np.float64)
        return np.clip(rel * size, 0.0, np.nextafter(size, 0.0))  # rounding stays inside


# -- scoring -----------------------------------------------------------------------------------
def _metric(name: str, smap: np.ndarray, t: Truth, fixations, convention: str) -> float | None:
    """One metric of ``smap`` against ``t`` (with ``fixations`` standing in for t.fixations);
    None where the ground truth it needs is missing."""
    metric = METRICS[name]
    if metric.needs == "fixations" and fixations is None:
        return None
    return metric.score(smap, t, fixations, convention)


# A map whose mass sits on fewer than this fraction of its pixels is flagged as near-empty.
NEAR_EMPTY_FRACTION = 1e-3
# ... where a pixel holds mass when it is above this fraction of the map's maximum.
NEAR_EMPTY_LEVEL = 1e-2


def same_aspect(shape: tuple[int, int], frame: tuple[int, int]) -> bool:
    """Whether an H x W map ``shape`` and ``frame`` could both be one aspect ratio in whole
    pixels: the smaller shape's sides within a pixel of it (rounded either way), the larger's
    within half a pixel. A 3888 x 2592 map of an image scored at 512 x 341 is; a transposed
    map, or one cropped by a few pixels, is not."""

    def ratios(h: int, w: int, slack: float) -> tuple[float, float]:  # heights / widths
        return (h - slack) / (w + slack), (h + slack) / max(w - slack, 0.5)

    small, large = sorted((tuple(shape), tuple(frame)), key=lambda s: s[0] * s[1])
    (lo, hi), (llo, lhi) = ratios(*small, 1.0), ratios(*large, 0.5)
    return max(lo, llo) <= min(hi, lhi)


def check_prediction(smap: np.ndarray, frame: tuple[int, int]) -> list[str]:
    """Flags for one predicted map in an evaluation frame of ``frame`` = (H, W): ``resized
    from WxH`` (another resolution, same aspect: resized for every metric alike),
    ``constant`` (no information: chance scores), ``near-empty`` (its mass on fewer than
    0.1% of the pixels). A ValueError when the map cannot be scored: not 2-D, or another
    aspect ratio (a transposed or cropped map would otherwise be stretched into a score)."""
    smap = np.asarray(smap)
    if smap.ndim != 2 or smap.size == 0:
        raise ValueError(f"a prediction must be an H x W map, got shape {smap.shape}")
    flags = []
    if smap.shape != tuple(frame):
        (h, w), (fh, fw) = smap.shape, frame
        if not same_aspect(smap.shape, frame):
            raise ValueError(
                f"the prediction is {w}x{h} but the image is {fw}x{fh}: another aspect ratio "
                "(transposed or cropped?), which would be scored stretched"
            )
        flags.append(f"resized from {w}x{h}")
    finite = smap[np.isfinite(smap)]
    if finite.size and finite.max() == finite.min():
        flags.append("constant")
    elif finite.size:
        top, low = finite.max(), finite.min()
        if np.mean(smap - low > NEAR_EMPTY_LEVEL * (top - low)) < NEAR_EMPTY_FRACTION:
            flags.append("near-empty")
    return flags


def derived_maps(
    density: np.ndarray, truth: Truth, metrics: Sequence[str], convention: str = M.MIT
) -> dict:
    """For a prediction taken as a probability density p (H x W in the truth's frame), the
    map each metric rewards under ``convention`` (:func:`salmap.derived.derived_maps`): the
    ground truth's blur is ``truth.sigma`` times the frame's longer side, and sAUC's negatives
    are ``truth.other``."""
    return D.derived_maps(
        density,
        metrics,
        sigma_px=truth.sigma * max(truth.shape),
        other=truth.other,
        convention=convention,
    )


def score_map(
    smap: np.ndarray | LogDensity,
    truth: Truth,
    metrics: Sequence[str] = DEFAULT_METRICS,
    convention: str = M.MIT,
    derived: bool | str = False,
    exact_ll: bool = False,
) -> dict[str, float | None]:
    """Every metric of one predicted map against one image; a map at another resolution (same
    aspect, see :func:`check_prediction`) is resized to the frame first, for every metric.

    A :class:`LogDensity` gets exact LL and IG and its density for the rest, and so does a
    map with ``exact_ll`` (taken as the density it is divided by its sum: a model's output, no
    min-max, every fixation counted, as pysaliency computes them); ``derived``
    scores each metric on its :func:`derived_maps` of the prediction taken as a density
    (``derived="fixations"``: the fixation metrics only, the distribution metrics on the
    prediction as it is, for models whose output already is the blurred density they were
    trained to match, as salmap's are)."""
    check_prediction(smap.log if isinstance(smap, LogDensity) else smap, truth.shape)
    log = None
    if isinstance(smap, LogDensity):
        log = smap.in_frame(truth.shape)
        smap = np.exp(log)
    smap = np.asarray(smap)
    if smap.shape != truth.shape:
        smap = M.resize_to(smap, truth.shape)  # NaN stays NaN: the metrics refuse it
    if exact_ll and log is None and {"ll", "ig"} & set(metrics):
        log = M.density_to_log(smap - min(smap.min(), 0.0))
    maps = dict.fromkeys(metrics, smap)
    if derived:
        if not np.isfinite(smap).all():
            raise ValueError("the prediction contains NaN or infinite values")
        which = metrics if derived != FIXATIONS else [m for m in metrics if m not in D.BLURRED]
        maps |= derived_maps(smap - min(smap.min(), 0.0), truth, which, convention)
    out = {}
    for m in metrics:
        if log is not None and m in ("ll", "ig") and truth.fixations is not None:
            base = np.log(truth.baseline) if m == "ig" else np.zeros(truth.shape)
            out[m] = M.info_gain_of_log_density(log, base, truth.fixations)
        else:
            out[m] = _metric(m, maps[m], truth, truth.fixations, convention)
    return out


# The others' empirical density is exactly 0 beyond the blur's reach, and IG, LL and KLD punish a
# fixation there with log(EPS): the gold standard would score below the uniform map, which says
# nothing about the ceiling. For LL and IG the others' density is regularised by mixing in this
# weight of the uniform map, as pysaliency's gold standard does (pysaliency fits the weight and
# the blur by cross-validation; salmap fixes them, so its figure is if anything a little lower).
# KLD, a distribution metric between two halves of the observers, is left out of its row.
GOLD_UNIFORM_WEIGHT = 0.05
GOLD_LEFT_OUT = frozenset({"kld"})
GOLD_BY_LOG_DENSITY = ("ll", "ig")


GOLD_NEEDS = "fewer than two observers: no gold standard"


def observers(truth: Truth) -> int:
    """How many observers fixated inside the image's frame."""
    if truth.fixations is None or truth.subjects is None:
        return 0
    return len(np.unique(truth.subjects))


def _gold_bits(truth: Truth, subject, held, others, metrics, fit=None) -> dict:
    """LL and IG (bits) of one observer's fixations ``held`` under the other observers'
    density ``others`` mixed with the uniform map: 5% of it with the truth's blur, or the blur
    and weight of a :class:`salmap.kde.GoldFit`."""
    if not metrics:
        return {}
    weight = GOLD_UNIFORM_WEIGHT
    if fit is not None:
        rest = truth.fixations[np.asarray(truth.subjects) != subject]
        others, weight = density_map(rest, truth.shape, fit.sigma), fit.uniform_weight
    p = (1 - weight) * D.as_distribution(others) + weight / others.size
    flat = M._fixated(held, truth.shape)
    ll = np.log2(p.ravel()[flat])
    out = {}
    for m in metrics:
        b = D.as_distribution(truth.baseline).ravel()[flat]
        out[m] = ll - (np.log2(b) if m == "ig" else -np.log2(p.size))
    return out


def score_gold(
    truth: Truth,
    metrics: Sequence[str] = DEFAULT_METRICS,
    convention: str = M.MIT,
    derived: bool = False,
    gold_fit=None,
) -> dict[str, float | None]:
    """The inter-observer gold standard on one image: fixation metrics averaged over observers
    (each predicted by the others' density; with ``derived``, by its :func:`derived_maps`, as
    a model's density is), distribution metrics between the densities of two halves of the
    observers; IG and KLD are None (see :data:`GOLD_LEFT_OUT`). LL and IG use the others'
    density regularised (see :func:`_gold_bits`; ``gold_fit``: the fitted blur and weight). A
    ValueError without subject ids; all None with fewer than two observers."""
    scored = [m for m in metrics if m not in GOLD_LEFT_OUT]
    out: dict[str, float | None] = dict.fromkeys(metrics)
    if truth.fixations is None:
        return out
    by_fixations = [
        m for m in scored if METRICS[m].needs == "fixations" and m not in GOLD_BY_LOG_DENSITY
    ]
    by_log = [m for m in scored if m in GOLD_BY_LOG_DENSITY]
    logs: dict[str, list] = {m: [] for m in by_log}
    by_density = [m for m in scored if METRICS[m].needs == "density"]
    per_subject: dict[str, list] = {m: [] for m in by_fixations}
    for subject, held, others in leave_one_subject_out(
        truth.fixations, truth.subjects, truth.shape, truth.sigma
    ):
        maps = dict.fromkeys(by_fixations, others)
        if derived and by_fixations:
            maps = derived_maps(others, truth, by_fixations, convention)
        for m in by_fixations:
            per_subject[m].append(_metric(m, maps[m], truth, held, convention))
        for m, bits in _gold_bits(truth, subject, held, others, by_log, gold_fit).items():
            logs[m].append(bits)
    for m, v in per_subject.items():
        out[m] = float(np.mean(v)) if v and None not in v else None
    for m, v in logs.items():  # every fixation counts, as for a model's LL
        out[m] = float(np.mean(np.concatenate(v))) if v else None
    if by_density and observers(truth) >= 2:
        a, b = split_halves(truth.fixations, truth.subjects, truth.shape, truth.sigma)
        half = Truth(truth.id, truth.image, None, None, b, None, truth.baseline, truth.sigma)
        out.update({m: _metric(m, a, half, None, convention) for m in by_density})
    return out


def _predict(predictor: AnyPredictor, truth: Truth) -> np.ndarray | None:
    if isinstance(predictor, PredictionFolder):
        return predictor.load(truth.id)
    return predictor(truth.image)


def score_image(
    name: str,
    predictor: AnyPredictor,
    truth: Truth,
    metrics: Sequence[str] = DEFAULT_METRICS,
    convention: str = M.MIT,
    derived: bool | str = False,
    ll_rule: str = "mit",
    gold_fit=None,
) -> dict:
    """One CSV row: id, predictor, status (ok, missing, error, or skipped: the gold standard
    of an image with fewer than two observers), flags (see :func:`check_prediction`), message
    and the metrics.

    ``ll_rule`` "exact": LL and IG of a model or baseline from its density as predicted (a
    folder of maps keeps MIT's rule: its maps are no densities); "mit": MIT's for every map.

    A missing prediction and one that cannot be scored (unreadable, NaN, another aspect ratio)
    become rows with that status; the caller decides whether that ends the evaluation."""
    row = {"id": truth.id, "category": truth.category, "predictor": name, "status": "ok"}
    row |= {"flags": "", "message": ""}
    try:
        if predictor is GOLD:
            if observers(truth) < 2:
                row.update(status="skipped", message=GOLD_NEEDS)
                return row | dict.fromkeys(metrics)
            scores = score_gold(truth, metrics, convention, derived, gold_fit)
            row["fixations"] = counted_fixations(truth, every=True)  # its LL counts all
        else:
            smap = _predict(predictor, truth)
            if smap is None:
                row.update(status="missing", message="no prediction for this image")
                return row | dict.fromkeys(metrics)
            plain = smap.log if isinstance(smap, LogDensity) else smap
            row["flags"] = "; ".join(check_prediction(plain, truth.shape))
            maps_folder = isinstance(predictor, PredictionFolder) and not predictor.log_density
            exact = ll_rule == EXACT and not maps_folder
            scores = score_map(smap, truth, metrics, convention, derived, exact)
            every = exact or isinstance(smap, LogDensity) or convention == M.TUEBINGEN
            row["fixations"] = counted_fixations(truth, every)
    except ValueError as e:
        row.update(status="error", message=str(e))
        return row | dict.fromkeys(metrics)
    return row | scores


def counted_fixations(truth: Truth, every: bool) -> int:
    """How many fixations an image's LL and IG average over: every one, or (MIT's rule) each
    fixated pixel once; the weight of the image under per-fixation averaging."""
    if truth.fixations is None:
        return 0
    if every:
        return len(truth.fixations)
    rows, cols = pixel_indices(truth.fixations, truth.shape)
    return len(np.unique(rows * truth.shape[1] + cols))


def sauc_negatives(pool, drop_first: bool = False) -> OtherFixations:
    """sAUC's negatives for an image: the fixations of every other image of ``pool`` (a
    dataset; ``drop_first``: each observer's first fixation left out). sAUC moves with them, so
    a subset is best scored against the pool of its whole split."""
    return OtherFixations(relative_fixations(pool, drop_first), pool.ids)


def without_first_fixations(sample: dict) -> dict:
    """The sample without each observer's first fixation (Judd et al. 2009 and pysaliency drop
    it: the viewing starts from a central fixation cross). Its subject ids are needed."""
    fix, subjects = sample.get("fixations"), sample.get("subjects")
    if fix is None:
        return sample
    if subjects is None:
        raise DataError(
            f"{sample['image_path']}: no observer ids, so no observer's first fixation can be "
            "told from the others"
        )
    keep = ~first_of_each(subjects)
    return dict(sample, fixations=fix[keep], subjects=np.asarray(subjects)[keep])


class _Scorer:
    """Scores image ``i`` of a split with every predictor (what each worker process runs)."""

    def __init__(self, part, predictors, longer_side, metrics, convention, other, options):
        self.part, self.predictors, self.longer_side = part, predictors, longer_side
        self.metrics, self.convention, self.other = metrics, convention, other
        self.baseline, self.derived, self.drop_first, self.ll_rule, self.gold_fit = options
        self.rules = (self.derived, self.ll_rule, self.gold_fit)  # score_image's last three

    def _sample(self, i: int) -> dict:
        """Image ``i`` in its evaluation frame, with the density of its (kept) fixations."""
        # with a rescale, the density is made in the new frame: blur the small image
        later = self.longer_side or self.drop_first
        sample = self.part.sample(i, density=not later)
        if self.drop_first:
            sample = without_first_fixations(sample)
        if self.longer_side:
            return rescale(sample, self.longer_side, self.part.sigma)
        if later and sample["map_kind"] == "density":
            shape = sample["image"].shape[:2]
            if sample["fixations"] is None or not len(sample["fixations"]):
                raise DataError(f"{sample['image_path']}: no fixation left for a density")
            sample["saliency_map"] = density_map(sample["fixations"], shape, self.part.sigma)
        return sample

    def __call__(self, i: int) -> list[dict]:
        try:
            sample = self._sample(i)
        except DataError as e:  # an unreadable image is a row with a reason, not the end
            row = {"id": self.part.ids[i], "category": self.part.categories[i]}
            row |= {"status": "error", "flags": "", "message": str(e)}
            return [
                row | {"predictor": name} | dict.fromkeys(self.metrics) for name in self.predictors
            ]
        shape = sample["image"].shape[:2]
        other = self.other.points_for(self.part.ids[i], shape) if self.other else None
        truth = ground_truth(sample, other, self.part.sigma, self.baseline)
        return [
            score_image(name, p, truth, self.metrics, self.convention, *self.rules)
            for name, p in self.predictors.items()
        ]


_WORKER_SCORER: _Scorer | None = None  # set in the parent; forked workers inherit it


def _worker_init() -> None:
    if "torch" in sys.modules:  # one thread per process: the processes share the cores
        sys.modules["torch"].set_num_threads(1)


def _worker_score(i: int) -> list[dict]:
    return _WORKER_SCORER(i)


def evaluate(
    dataset,
    predictors: dict[str, AnyPredictor],
    *,
    split: str = "val",
    rule: SplitRule | None = None,
    longer_side: int | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    convention: str = M.MIT,
    workers: int = 1,
    progress: Callable[[Iterable], Iterable] | None = None,
    ig_baseline: Callable[[tuple[int, int]], np.ndarray] = centre_gaussian,
    derived: bool | str = False,
    negatives=None,
    drop_first: bool = False,
    ll_rule: str = "mit",
    gold_fit=None,
) -> list[dict]:
    """Score ``predictors`` (name -> predictor) on one split of ``dataset`` (a
    :class:`~salmap.data.SaliencyDataset`); one row per image and predictor, in image order.

    ``longer_side`` rescales every image (and its fixations) first; the default is each image's
    own resolution. ``rule`` says how the dataset divides into train and val (default: seed
    0, 20% validation); score a model on the rule it was trained with. ``workers`` > 1 scores images in that many forked processes (POSIX only;
    predictors need not be picklable, but a torch model is best scored with one worker).
    ``progress`` wraps the iteration over images (e.g. a tqdm). ``ig_baseline(shape)`` is IG's
    baseline map; ``derived`` scores every metric on its :func:`derived_maps`. ``negatives``
    is the dataset (a part of ``dataset``) whose other images' fixations are sAUC's negatives,
    by default the scored split itself: pass the whole split when scoring some of its images,
    since sAUC depends on the negatives (see :func:`sauc_negatives`). ``drop_first`` leaves
    each observer's first fixation out, everywhere (fixations, densities, negatives).
    ``ll_rule`` says how LL and IG treat models and baselines (see :func:`score_image`);
    ``gold_fit`` (a :class:`salmap.kde.GoldFit`) the gold standard's blur and uniform weight
    for LL and IG, in place of the fixed ones.
    """
    global _WORKER_SCORER
    M.check_convention(convention)
    metrics = check_metrics(metrics)
    part = (rule or SplitRule()).part(dataset, split)
    pool = part if negatives is None else negatives
    other = sauc_negatives(pool, drop_first) if "sauc" in metrics else None
    options = (ig_baseline, derived, drop_first, ll_rule, gold_fit)
    scorer = _Scorer(part, predictors, longer_side, metrics, convention, other, options)
    wrap = progress or (lambda it: it)
    indices = range(len(part))
    if workers <= 1 or len(part) < 2 or "fork" not in mp.get_all_start_methods():
        return [row for i in wrap(indices) for row in scorer(i)]
    if "ssim" in metrics:  # import torch once here rather than in every worker
        import torchmetrics.functional.image  # noqa: F401
    _WORKER_SCORER = scorer
    try:
        with mp.get_context("fork").Pool(min(workers, len(part)), _worker_init) as pool:
            results = wrap(pool.imap(_worker_score, indices, chunksize=2))
            return [row for rows in results for row in rows]
    finally:
        _WORKER_SCORER = None


# -- aggregation -------------------------------------------------------------------------------
def bootstrap_interval(
    values: np.ndarray,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
    weights: np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampling images; with
    ``weights``, of their weighted mean, e.g. per fixation)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        raise ValueError("no values to bootstrap")
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    for start in range(0, samples, 100):  # chunks bound memory on large splits
        idx = rng.integers(0, len(values), size=(min(100, samples - start), len(values)))
        total = w[idx].sum(axis=1)
        means[start : start + len(idx)] = (values[idx] * w[idx]).sum(axis=1) / total
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def summarize(
    rows: list[dict], metrics: Sequence[str] = DEFAULT_METRICS, average: str = "image"
) -> dict:
    """Per predictor (in order of appearance): image counts by status, and per metric the mean
    over the images it could be computed on, a 95% bootstrap interval and that count.
    ``average="fixation"`` weights each image's LL and IG by the fixations they averaged over
    (pysaliency's per-fixation figure); the other metrics are means over images."""
    out: dict[str, dict] = {}
    for name in dict.fromkeys(r["predictor"] for r in rows):
        mine = [r for r in rows if r["predictor"] == name]
        status = {s: sum(r["status"] == s for r in mine) for s in STATUSES}
        flagged: dict[str, int] = {}
        for r in mine:
            for flag in filter(None, r.get("flags", "").split("; ")):
                key = "resized" if flag.startswith("resized") else flag
                flagged[key] = flagged.get(key, 0) + 1
        scores = {
            m: metric_summary(mine, m, average == "fixation" and m in PER_FIXATION) for m in metrics
        }
        out[name] = {"images": len(mine), **status, "flagged": flagged, "metrics": scores}
    return out


def metric_summary(rows: list[dict], metric: str, per_fixation: bool = False) -> dict:
    """Mean, 95% bootstrap interval and count of one metric over the rows scored on it. A
    non-finite score (the LL or IG of a log density that is zero at a fixation: -inf) makes
    the mean non-finite too: it is then None, with the images named under ``"infinite"``,
    so that the record stays valid JSON and the figure is not a mean over the other images."""
    scored = [r for r in rows if r["status"] == "ok" and r[metric] is not None]
    v = np.array([r[metric] for r in scored], dtype=np.float64)
    out: dict = {"mean": None, "ci95": None, "n": len(v)}
    bad = ~np.isfinite(v)
    if bad.any():
        out["infinite"] = {
            "value": "-inf" if np.all(v[bad] == -np.inf) else "inf or nan",
            "ids": [r["id"] for r, b in zip(scored, bad) if b],
        }
    elif len(v):
        w = np.array([r.get("fixations") or 0 for r in scored], float) if per_fixation else None
        if w is not None and not w.sum() > 0:
            w = None  # no counts recorded: per image
        lo, hi = bootstrap_interval(v, weights=w)
        out |= {"mean": float(np.average(v, weights=w)), "ci95": [lo, hi]}
        if w is not None:
            out["fixations"] = int(w.sum())
    return out


def metric_label(name: str, ig_baseline: str = "centre") -> str:
    """A metric's column title; IG names its baseline."""
    return f"IG vs {ig_baseline}" if name == "ig" else METRICS[name].label


def format_table(
    summary: dict, metrics: Sequence[str] = DEFAULT_METRICS, ig_baseline: str = "centre"
) -> str:
    """A Markdown table: one row per predictor, mean [95% interval] per metric."""
    head = ["predictor", "images"] + [
        f"{metric_label(m, ig_baseline)} {'↑' if METRICS[m].higher_is_better else '↓'}"
        for m in metrics
    ]
    lines = ["| " + " | ".join(head) + " |", "| --- " + "| ---: " * (len(head) - 1) + "|"]
    for name, s in summary.items():
        cells = [name, str(s["ok"]) if s["ok"] == s["images"] else f"{s['ok']} of {s['images']}"]
        for m in metrics:
            cells.append(_cell(s["metrics"][m]))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Mean over images [{CONFIDENCE:.0%} bootstrap interval, {BOOTSTRAP_SAMPLES} resamples]; "
        "↑ higher is better, ↓ lower is better; — not available."
    )
    return "\n".join(lines) + "\n"


def _cell(r: dict) -> str:
    if "infinite" in r:
        k = len(r["infinite"]["ids"])
        return f"{r['infinite']['value']} ({k} image{'s' * (k != 1)})"
    if r["mean"] is None:
        return "—"
    lo, hi = r["ci95"]
    return f"{r['mean']:.3f} [{lo:.3f}, {hi:.3f}]"


# -- files -------------------------------------------------------------------------------------
def rows_to_csv(rows: list[dict], metrics: Sequence[str] = DEFAULT_METRICS) -> str:
    """The per-image rows as CSV text (empty cells where a metric is not available)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    head = ["id", "category", "predictor", "status", *metrics, "flags", "message", "fixations"]
    writer.writerow(head)
    for r in rows:
        values = ["" if r[m] is None else f"{r[m]:.6g}" for m in metrics]
        head = [r["id"], r.get("category") or "", r["predictor"], r["status"]]
        tail = [r.get("flags", ""), r["message"], r.get("fixations", "")]
        writer.writerow([*head, *values, *tail])
    return buf.getvalue()


def write_results(
    out: str | Path,
    rows: list[dict],
    summary: dict,
    table: str,
    metrics: Sequence[str],
    extra: dict[str, str] | None = None,
) -> list[Path]:
    """``per_image.csv``, ``summary.json`` and ``table.md`` in folder ``out`` (created), and
    the ``extra`` files (name -> text)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "per_image.csv": rows_to_csv(rows, metrics),
        "summary.json": json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
        "table.md": table,
        **(extra or {}),
    }
    for name, text in files.items():
        atomic_write_bytes(out / name, text.encode("utf-8"))
    return [out / name for name in files]
