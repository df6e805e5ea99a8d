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
- sAUC's negatives are the fixations of every other image of the same split, taken in
  image-relative coordinates (x / width, y / height) and mapped into this image's frame.
- IG's baseline is the fixed centre Gaussian (:func:`salmap.baselines.centre_gaussian`), so the
  figure does not depend on which images a centre bias was fitted to.
- The gold standard scores each observer's fixations with the density of the other observers
  (leave one subject out, averaged over observers), and the distribution metrics between the
  densities of two halves of the observers.
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

from salmap import metrics as M
from salmap.baselines import (
    centre_gaussian,
    leave_one_subject_out,
    relative_fixations,
    split_halves,
)
from salmap.data.base import SplitRule
from salmap.data.fixations import DENSITY_SIGMA, fixation_map
from salmap.data.folder import MAP_EXTENSIONS
from salmap.data.images import load_map, resize_array
from salmap.data.transforms import apply_geometry, fit
from salmap.errors import DataError
from salmap.files import atomic_write_bytes
from salmap.inference import OUTPUT_SUFFIX

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Metric:
    label: str
    needs: str  # "fixations" or "density"
    higher_is_better: bool = True


METRICS: dict[str, Metric] = {
    "auc_judd": Metric("AUC-Judd", "fixations"),
    "auc_borji": Metric("AUC-Borji", "fixations"),
    "sauc": Metric("sAUC", "fixations"),
    "nss": Metric("NSS", "fixations"),
    "ig": Metric("IG", "fixations"),
    "cc": Metric("CC", "density"),
    "sim": Metric("SIM", "density"),
    "kld": Metric("KLD", "density", higher_is_better=False),
    "ssim": Metric("SSIM", "density"),
    "emd": Metric("EMD", "density", higher_is_better=False),
}
# The MIT benchmark's metrics. SSIM (the seed's metric) and EMD are on request: on 2 CPU cores
# each costs more than all the others together (SSIM about 0.1 s for a 512 x 512 map).
DEFAULT_METRICS = tuple(m for m in METRICS if m not in ("ssim", "emd"))


def check_metrics(names: Iterable[str]) -> tuple[str, ...]:
    """The metric names in canonical order; a ValueError naming the valid ones otherwise."""
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
    Maps of any size are resized to the image."""

    OUTPUT_SUFFIXES = tuple(OUTPUT_SUFFIX[k] for k in ("density", "map"))  # best first
    IGNORED_SUFFIXES = tuple(OUTPUT_SUFFIX[k] for k in ("overlay", "side-by-side", "fog"))

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataError(f"{self.folder}: not a folder of predictions")
        found: dict[str, tuple[int, Path]] = {}
        for p in sorted(self.folder.rglob("*")):
            if not p.is_file() or p.name.startswith(".") or p.suffix.lower() not in MAP_EXTENSIONS:
                continue
            key = p.relative_to(self.folder).with_suffix("").as_posix()
            if key.endswith(self.IGNORED_SUFFIXES):
                continue
            rank = len(self.OUTPUT_SUFFIXES)
            for r, suffix in enumerate(self.OUTPUT_SUFFIXES):
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
            raise DataError(f"{self.folder}: no saliency maps ({', '.join(MAP_EXTENSIONS)})")

    def find(self, image_id: str) -> Path | None:
        return self.by_id.get(image_id) or self.by_stem.get(Path(image_id).name)

    def load(self, image_id: str, shape: tuple[int, int]) -> np.ndarray | None:
        """The map for ``image_id`` at ``shape``, or None where there is none."""
        path = self.find(image_id)
        return None if path is None else resize_array(load_map(path), shape)

    def __repr__(self) -> str:
        return f"PredictionFolder({str(self.folder)!r}, {len(self.by_id)} maps)"


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
    centre: np.ndarray  # H x W information-gain baseline
    sigma: float = DENSITY_SIGMA

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


def ground_truth(sample: dict, other: np.ndarray | None, sigma: float = DENSITY_SIGMA) -> Truth:
    """The :class:`Truth` of a sample in its evaluation frame, with its map (the distributed
    one, or the fixation density of blur ``sigma`` that the sample was made with)."""
    shape = sample["image"].shape[:2]
    fix = sample.get("fixations")
    fix = None if fix is None or len(fix) == 0 else fix
    density = sample["saliency_map"]
    if density is None:
        raise ValueError(f"{sample['id']}: the sample has no map; make it with its density")
    return Truth(
        id=sample["id"],
        image=sample["image"],
        fixations=fix,
        subjects=None if fix is None else sample.get("subjects"),
        density=density,
        other=other,
        centre=centre_gaussian(shape),
        sigma=sigma,
    )


class OtherFixations:
    """The sAUC negatives: every other image's fixations, kept in relative coordinates and
    placed in a given image's frame on request."""

    def __init__(self, relative: Sequence[np.ndarray | None]):
        parts = [np.empty((0, 2)) if r is None else np.asarray(r).reshape(-1, 2) for r in relative]
        self.points = np.concatenate(parts) if parts else np.empty((0, 2))
        self.owner = np.repeat(np.arange(len(parts)), [len(p) for p in parts])

    def points_for(self, index: int, shape: tuple[int, int]) -> np.ndarray | None:
        """N x 2 fixations of every image but ``index``, in a frame of ``shape`` = (H, W)."""
        rel = self.points[self.owner != index]
        if len(rel) == 0:
            return None
        size = np.array([shape[1], shape[0]], dtype=np.float64)
        return np.clip(rel * size, 0.0, np.nextafter(size, 0.0))  # rounding stays inside


# -- scoring -----------------------------------------------------------------------------------
def _metric(name: str, smap: np.ndarray, t: Truth, fixations, convention: str) -> float | None:
    """One metric of ``smap`` against ``t`` (with ``fixations`` standing in for t.fixations);
    None where the ground truth it needs is missing."""
    if METRICS[name].needs == "fixations" and fixations is None:
        return None
    if name == "auc_judd":
        return M.auc_judd(smap, fixations, convention=convention)
    if name == "auc_borji":
        return M.auc_borji(smap, fixations)
    if name == "sauc":
        if t.other is None:
            return None
        negatives = t.other_map if convention == M.MIT else t.other
        return M.auc_shuffled(smap, fixations, negatives, convention=convention)
    if name == "nss":
        return M.nss(smap, fixations, convention=convention)
    if name == "ig":
        return M.info_gain(smap, t.centre, fixations, convention=convention)
    if name == "cc":
        return M.cc(smap, t.density)
    if name == "sim":
        return M.sim(smap, t.density, convention=convention)
    if name == "kld":
        return M.kld(smap, t.density)
    if name == "ssim":
        return M.ssim(smap, t.density)
    if name == "emd":
        return M.emd(smap, t.density)
    raise ValueError(f"unknown metric {name!r}")


def score_map(
    smap: np.ndarray,
    truth: Truth,
    metrics: Sequence[str] = DEFAULT_METRICS,
    convention: str = M.MIT,
) -> dict[str, float | None]:
    """Every metric of one predicted map (resized to the frame first) against one image."""
    smap = np.asarray(smap)
    if smap.ndim != 2:
        raise ValueError(f"a prediction must be an H x W map, got shape {smap.shape}")
    if smap.shape != truth.shape:
        smap = M.resize_to(smap, truth.shape)  # NaN stays NaN: the metrics refuse it
    return {m: _metric(m, smap, truth, truth.fixations, convention) for m in metrics}


# The others' empirical density is exactly 0 beyond the blur's reach, and IG and KLD punish a
# fixation there with log(EPS): the gold standard would score below the uniform map, which says
# nothing about the ceiling. They are left out of its row (pysaliency regularises the gold
# standard with a uniform mixture instead).
GOLD_LEFT_OUT = frozenset({"ig", "kld"})


def score_gold(
    truth: Truth, metrics: Sequence[str] = DEFAULT_METRICS, convention: str = M.MIT
) -> dict[str, float | None]:
    """The inter-observer gold standard on one image: fixation metrics averaged over observers
    (each predicted by the others' density), distribution metrics between the densities of two
    halves of the observers; IG and KLD are None (see :data:`GOLD_LEFT_OUT`). A ValueError
    without subject ids; all None with fewer than two observers."""
    scored = [m for m in metrics if m not in GOLD_LEFT_OUT]
    out: dict[str, float | None] = dict.fromkeys(metrics)
    if truth.fixations is None:
        return out
    by_fixations = [m for m in scored if METRICS[m].needs == "fixations"]
    by_density = [m for m in scored if METRICS[m].needs == "density"]
    per_subject: dict[str, list] = {m: [] for m in by_fixations}
    for _, held, others in leave_one_subject_out(
        truth.fixations, truth.subjects, truth.shape, truth.sigma
    ):
        for m in by_fixations:
            per_subject[m].append(_metric(m, others, truth, held, convention))
    for m, v in per_subject.items():
        out[m] = float(np.mean(v)) if v and None not in v else None
    if by_density and len(np.unique(truth.subjects)) >= 2:
        a, b = split_halves(truth.fixations, truth.subjects, truth.shape, truth.sigma)
        half = Truth(truth.id, truth.image, None, None, b, None, truth.centre, truth.sigma)
        out.update({m: _metric(m, a, half, None, convention) for m in by_density})
    return out


def _predict(predictor: AnyPredictor, truth: Truth) -> np.ndarray | None:
    if isinstance(predictor, PredictionFolder):
        return predictor.load(truth.id, truth.shape)
    return predictor(truth.image)


def score_image(
    name: str,
    predictor: AnyPredictor,
    truth: Truth,
    metrics: Sequence[str] = DEFAULT_METRICS,
    convention: str = M.MIT,
) -> dict:
    """One CSV row: id, predictor, status (ok, missing, error), message and the metrics.

    A missing prediction and a degenerate one (ValueError from the metrics: NaN, wrong shape)
    become rows with that status rather than ending the evaluation."""
    row = {"id": truth.id, "predictor": name, "status": "ok", "message": ""}
    try:
        if predictor is GOLD:
            scores = score_gold(truth, metrics, convention)
        else:
            smap = _predict(predictor, truth)
            if smap is None:
                row.update(status="missing", message="no prediction for this image")
                return row | dict.fromkeys(metrics)
            scores = score_map(smap, truth, metrics, convention)
    except ValueError as e:
        row.update(status="error", message=str(e))
        return row | dict.fromkeys(metrics)
    return row | scores


class _Scorer:
    """Scores image ``i`` of a split with every predictor (what each worker process runs)."""

    def __init__(self, part, predictors, longer_side, metrics, convention, other):
        self.part, self.predictors, self.longer_side = part, predictors, longer_side
        self.metrics, self.convention, self.other = metrics, convention, other

    def __call__(self, i: int) -> list[dict]:
        try:  # with a rescale, the density is made in the new frame: blur the small image
            sample = self.part.sample(i, density=not self.longer_side)
        except DataError as e:  # an unreadable image is a row with a reason, not the end
            row = {"id": self.part.ids[i], "status": "error", "message": str(e)}
            return [
                row | {"predictor": name} | dict.fromkeys(self.metrics) for name in self.predictors
            ]
        if self.longer_side:
            sample = rescale(sample, self.longer_side, self.part.sigma)
        shape = sample["image"].shape[:2]
        other = self.other.points_for(i, shape) if self.other else None
        truth = ground_truth(sample, other, self.part.sigma)
        return [
            score_image(name, p, truth, self.metrics, self.convention)
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
) -> list[dict]:
    """Score ``predictors`` (name -> predictor) on one split of ``dataset`` (a
    :class:`~salmap.data.SaliencyDataset`); one row per image and predictor, in image order.

    ``longer_side`` rescales every image (and its fixations) first; the default is each image's
    own resolution. ``rule`` says how the dataset divides into train and val (default: seed
    0, 20% validation); score a model on the rule it was trained with. ``workers`` > 1 scores images in that many forked processes (POSIX only;
    predictors need not be picklable, but a torch model is best scored with one worker).
    ``progress`` wraps the iteration over images (e.g. a tqdm).
    """
    global _WORKER_SCORER
    M.check_convention(convention)
    metrics = check_metrics(metrics)
    part = (rule or SplitRule()).part(dataset, split)
    other = OtherFixations(relative_fixations(part)) if "sauc" in metrics else None
    scorer = _Scorer(part, predictors, longer_side, metrics, convention, other)
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
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampling images)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        raise ValueError("no values to bootstrap")
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    for start in range(0, samples, 100):  # chunks bound memory on large splits
        idx = rng.integers(0, len(values), size=(min(100, samples - start), len(values)))
        means[start : start + len(idx)] = values[idx].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def summarize(rows: list[dict], metrics: Sequence[str] = DEFAULT_METRICS) -> dict:
    """Per predictor (in order of appearance): image counts by status, and per metric the mean
    over the images it could be computed on, a 95% bootstrap interval and that count."""
    out: dict[str, dict] = {}
    for name in dict.fromkeys(r["predictor"] for r in rows):
        mine = [r for r in rows if r["predictor"] == name]
        status = {s: sum(r["status"] == s for r in mine) for s in ("ok", "missing", "error")}
        scores = {}
        for m in metrics:
            v = np.array([r[m] for r in mine if r["status"] == "ok" and r[m] is not None])
            if len(v) == 0:
                scores[m] = {"mean": None, "ci95": None, "n": 0}
                continue
            lo, hi = bootstrap_interval(v)
            scores[m] = {"mean": float(v.mean()), "ci95": [lo, hi], "n": len(v)}
        out[name] = {"images": len(mine), **status, "metrics": scores}
    return out


def format_table(summary: dict, metrics: Sequence[str] = DEFAULT_METRICS) -> str:
    """A Markdown table: one row per predictor, mean [95% interval] per metric."""
    head = ["predictor", "images"] + [
        f"{METRICS[m].label} {'↑' if METRICS[m].higher_is_better else '↓'}" for m in metrics
    ]
    lines = ["| " + " | ".join(head) + " |", "| --- " + "| ---: " * (len(head) - 1) + "|"]
    for name, s in summary.items():
        cells = [name, str(s["ok"])]
        for m in metrics:
            r = s["metrics"][m]
            cells.append("—" if r["mean"] is None else _cell(r))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Mean over images [{CONFIDENCE:.0%} bootstrap interval, {BOOTSTRAP_SAMPLES} resamples]; "
        "↑ higher is better, ↓ lower is better; — not available."
    )
    return "\n".join(lines) + "\n"


def _cell(r: dict) -> str:
    lo, hi = r["ci95"]
    return f"{r['mean']:.3f} [{lo:.3f}, {hi:.3f}]"


# -- files -------------------------------------------------------------------------------------
def rows_to_csv(rows: list[dict], metrics: Sequence[str] = DEFAULT_METRICS) -> str:
    """The per-image rows as CSV text (empty cells where a metric is not available)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "predictor", "status", *metrics, "message"])
    for r in rows:
        values = ["" if r[m] is None else f"{r[m]:.6g}" for m in metrics]
        writer.writerow([r["id"], r["predictor"], r["status"], *values, r["message"]])
    return buf.getvalue()


def write_results(
    out: str | Path, rows: list[dict], summary: dict, table: str, metrics: Sequence[str]
) -> list[Path]:
    """``per_image.csv``, ``summary.json`` and ``table.md`` in folder ``out`` (created)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "per_image.csv": rows_to_csv(rows, metrics),
        "summary.json": json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
        "table.md": table,
    }
    for name, text in files.items():
        atomic_write_bytes(out / name, text.encode("utf-8"))
    return [out / name for name in files]
