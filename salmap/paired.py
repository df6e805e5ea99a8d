"""Paired comparison of predictors scored on the same images.

Two predictors' means with overlapping intervals say little about which is better: the images
that are hard for one are hard for the other. For every pair (A, B) and metric this compares the
per-image differences A - B on the images both could be scored on: their mean, a paired
bootstrap interval (images resampled, the same draw for both predictors) and the two-sided
Wilcoxon signed-rank p-value (:func:`scipy.stats.wilcoxon`, zero differences dropped as in
Wilcoxon's original test).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from salmap.evaluate import BOOTSTRAP_SAMPLES, CONFIDENCE, METRICS, bootstrap_interval


def paired_values(rows: list[dict], a: str, b: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(A's values, B's values) of ``metric`` on the images both scored with a finite value,
    in image order (a -inf log-likelihood has no difference to test; the summary names it)."""
    by_id = {}
    for r in rows:
        value = r[metric] if r["status"] == "ok" else None
        if r["predictor"] in (a, b) and value is not None and np.isfinite(value):
            by_id.setdefault(r["id"], {})[r["predictor"]] = r[metric]
    both = [v for v in by_id.values() if a in v and b in v]
    return (
        np.array([v[a] for v in both], dtype=np.float64),
        np.array([v[b] for v in both], dtype=np.float64),
    )


def wilcoxon_p(differences: np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of paired differences; 1.0 when all are zero,
    None with fewer than two images."""
    from scipy.stats import wilcoxon

    d = np.asarray(differences, dtype=np.float64)
    if len(d) < 2:
        return None
    if not np.any(d != 0):
        return 1.0
    return float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def compare_pair(rows: list[dict], a: str, b: str, metric: str) -> dict:
    """A - B on ``metric``: n images, mean difference, its paired bootstrap interval, the
    Wilcoxon p-value and how many images A wins (better by the metric's direction)."""
    va, vb = paired_values(rows, a, b, metric)
    d = va - vb
    if len(d) == 0:
        return {"n": 0, "mean_difference": None, "ci95": None, "wilcoxon_p": None, "a_better": 0}
    sign = 1 if METRICS[metric].higher_is_better else -1
    return {
        "n": len(d),
        "mean_difference": float(d.mean()),
        "ci95": list(bootstrap_interval(d)),
        "wilcoxon_p": wilcoxon_p(d),
        "a_better": int(np.sum(sign * d > 0)),
    }


def paired_comparison(rows: list[dict], metrics: Sequence[str], skip=("gold",)) -> list[dict]:
    """One entry per pair of predictors (in table order, ``skip`` left out) and metric."""
    names = [n for n in dict.fromkeys(r["predictor"] for r in rows) if n not in skip]
    return [
        {"a": a, "b": b, "metric": m, **compare_pair(rows, a, b, m)}
        for a, b in combinations(names, 2)
        for m in metrics
    ]


def format_pairs(pairs: list[dict]) -> str:
    """A Markdown table of :func:`paired_comparison`: A - B [interval], p, A better on k of n."""
    lines = [
        "| A | B | metric | mean A − B [95% CI] | Wilcoxon p | A better |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for p in pairs:
        if p["n"] == 0:
            continue
        lo, hi = p["ci95"]
        pv = "—" if p["wilcoxon_p"] is None else f"{p['wilcoxon_p']:.2g}"
        lines.append(
            f"| {p['a']} | {p['b']} | {METRICS[p['metric']].label} | "
            f"{p['mean_difference']:+.3f} [{lo:+.3f}, {hi:+.3f}] | {pv} | "
            f"{p['a_better']} of {p['n']} |"
        )
    lines.append("")
    lines.append(
        f"Paired over the images both predictors were scored on: mean difference with a "
        f"{CONFIDENCE:.0%} paired bootstrap interval ({BOOTSTRAP_SAMPLES} resamples) and a "
        "two-sided Wilcoxon signed-rank p-value."
    )
    return "\n".join(lines) + "\n"
