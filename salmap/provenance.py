"""Around the scores of salmap evaluate: where they came from (provenance), a per-category
breakdown and the table as LaTeX (booktabs)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from salmap import __version__
from salmap import metrics as M
from salmap.evaluate import (
    BOOTSTRAP_SAMPLES,
    BOOTSTRAP_SEED,
    CONFIDENCE,
    GOLD_UNIFORM_WEIGHT,
    METRICS,
    NEAR_EMPTY_FRACTION,
    NEAR_EMPTY_LEVEL,
    metric_label,
)


def git_hash(path: Path = Path(__file__).parent) -> str | None:
    """The commit of the git checkout salmap runs from, with ``-dirty`` for uncommitted
    changes; None for an installed copy or where git is absent."""
    try:
        run = lambda *a: subprocess.run(  # noqa: E731
            ["git", *a], cwd=path, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        commit = run("rev-parse", "HEAD")
        return commit + ("-dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None


def config_hash(config: dict) -> str:
    """SHA-256 of a model's config as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def metric_parameters(sigma: float) -> dict:
    """Every constant the metrics and the aggregation use."""
    return {
        "eps": M.EPS,
        "auc_judd_jitter": M.AUC_JUDD_JITTER,
        "auc_step": M.AUC_STEP,
        "auc_splits": M.AUC_SPLITS,
        "emd_downsize": M.EMD_DOWNSIZE,
        "ssim_data_range": M.SSIM_DATA_RANGE,
        "density_sigma": sigma,
        "gold_uniform_weight": GOLD_UNIFORM_WEIGHT,
        "near_empty": {"fraction": NEAR_EMPTY_FRACTION, "level": NEAR_EMPTY_LEVEL},
        "bootstrap": {
            "samples": BOOTSTRAP_SAMPLES,
            "seed": BOOTSTRAP_SEED,
            "confidence": CONFIDENCE,
        },
    }


def provenance(argv: Sequence[str] | None) -> dict:
    return {
        "salmap_version": __version__,
        "git_commit": git_hash(),
        "command_line": None if argv is None else ["salmap", *argv],
    }


# -- per category ------------------------------------------------------------------------------
def by_category(rows: list[dict], metrics: Sequence[str]) -> dict:
    """Per predictor, per category: the mean of each metric over its scored images, and their
    count; empty where the images have fewer than two categories."""
    categories = sorted({r.get("category") for r in rows} - {None})
    if len(categories) < 2:
        return {}
    out: dict[str, dict] = {}
    for name in dict.fromkeys(r["predictor"] for r in rows):
        out[name] = {}
        for c in categories:
            mine = [r for r in rows if r["predictor"] == name and r.get("category") == c]
            ok = [r for r in mine if r["status"] == "ok"]
            means = {}
            for m in metrics:
                v = [r[m] for r in ok if r[m] is not None]  # -inf: None, named in the notes
                means[m] = float(np.mean(v)) if v and np.isfinite(v).all() else None
            out[name][c] = {"images": len(ok), "metrics": means}
    return out


def format_categories(table: dict, metrics: Sequence[str], ig_baseline: str = "centre") -> str:
    """Markdown: one row per predictor and category, the mean of each metric."""
    head = ["predictor", "category", "images", *(metric_label(m, ig_baseline) for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "| --- | --- " + "| ---: " * (len(head) - 2) + "|"]
    for name, cats in table.items():
        for c, s in cats.items():
            values = ["—" if s["metrics"][m] is None else f"{s['metrics'][m]:.3f}" for m in metrics]
            lines.append("| " + " | ".join([name, c, str(s["images"]), *values]) + " |")
    return "\n".join(lines) + "\n"


# -- LaTeX -------------------------------------------------------------------------------------
def _tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_")):
        text = text.replace(a, b)
    for a in "#$":
        text = text.replace(a, "\\" + a)
    return text


def format_latex(summary: dict, metrics: Sequence[str], ig_baseline: str = "centre") -> str:
    """The table as a LaTeX ``tabular`` with booktabs rules (``\\usepackage{booktabs}``): mean
    and, in a smaller font, the 95% bootstrap interval; the best mean per column in bold
    (baselines named gold excepted)."""
    arrows = {m: r"$\uparrow$" if METRICS[m].higher_is_better else r"$\downarrow$" for m in metrics}
    best = {}
    for m in metrics:
        means = [
            (s["metrics"][m]["mean"], n)
            for n, s in summary.items()
            if n != "gold" and s["metrics"][m]["mean"] is not None
        ]
        if means:
            pick = max if METRICS[m].higher_is_better else min
            best[m] = pick(means)[1]
    lines = [
        r"\begin{tabular}{l r " + "c " * len(metrics) + "}",
        r"\toprule",
        " & ".join(
            ["Predictor", "Images"]
            + [f"{_tex(metric_label(m, ig_baseline))} {arrows[m]}" for m in metrics]
        )
        + r" \\",
        r"\midrule",
    ]
    for name, s in summary.items():
        if name == "gold":
            lines.append(r"\midrule")
        cells = [_tex(name), str(s["ok"])]
        for m in metrics:
            r = s["metrics"][m]
            if r["mean"] is None:
                cells.append(r"$-\infty$" if "infinite" in r else "--")
                continue
            mean = f"{r['mean']:.3f}"
            if best.get(m) == name:
                mean = rf"\textbf{{{mean}}}"
            lo, hi = r["ci95"]
            cells.append(rf"{mean} {{\scriptsize [{lo:.3f}, {hi:.3f}]}}")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
