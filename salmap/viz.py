"""Figures: heatmap overlays, comparison grids and training curves (matplotlib)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from salmap.files import atomic_write_bytes  # noqa: E402

DEFAULT_COLORMAP = "inferno"  # perceptually uniform, readable in grayscale print
DEFAULT_ALPHA = 0.7  # heatmap opacity of an overlay at its most salient pixel


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """Render ``fig`` to PNG at ``path`` atomically and close it."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())


# The panels of curves.png: (metric.csv key, title, splits, frame note)
CURVE_PANELS = (
    ("loss", "Loss", ("train", "val"), "input frame"),
    ("ssim", "SSIM", ("train", "val"), "input frame"),
    ("cc", "CC", ("val",), "as salmap evaluate"),
    ("nss", "NSS", ("val",), "as salmap evaluate"),
    ("kld", "KLD", ("val",), "as salmap evaluate"),
)


def read_metrics(metrics_csv: Path) -> list[dict]:
    """The rows of a run's metrics.csv as floats (NaN where a cell is empty)."""
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: float(v) if v not in (None, "") else np.nan for k, v in r.items()} for r in rows]


def training_curves_figure(rows: list[dict], panels=CURVE_PANELS):
    """Loss and SSIM of train and validation (the seed's figures, in the model's input frame),
    and validation CC, NSS and KLD as ``salmap evaluate`` computes them, against epoch."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    epoch = np.array([r["epoch"] for r in rows])
    for ax, (key, title, splits, frame) in zip(axes[0], panels):
        for split, style in (("train", "-"), ("val", "--")):
            if split not in splits:
                continue
            values = np.array([r.get(f"{split}_{key}", np.nan) for r in rows])
            ok = np.isfinite(values)
            marker = "o" if ok.sum() < 30 else None
            ax.plot(epoch[ok], values[ok], style, marker=marker, ms=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_title(f"{title} ({frame})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_training_curves(metrics_csv: Path, out_png: Path) -> None:
    """curves.png of a run: see :func:`training_curves_figure`."""
    rows = read_metrics(metrics_csv)
    if rows:
        save_figure(training_curves_figure(rows), out_png)


def heatmap_rgb(smap: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """H x W map (any scale) -> H x W x 3 uint8 colour image, scaled to its own maximum."""
    m = np.asarray(smap, dtype=np.float64)
    top = m.max()
    m = m / top if top > 0 else m
    return (plt.get_cmap(colormap)(m)[..., :3] * 255).round().astype(np.uint8)


def overlay(
    image: np.ndarray,
    smap: np.ndarray,
    alpha: float = DEFAULT_ALPHA,
    colormap: str = DEFAULT_COLORMAP,
) -> np.ndarray:
    """The heatmap of ``smap`` over ``image`` (both H x W): each pixel's opacity is ``alpha``
    times its saliency relative to the map's maximum, so unsalient regions show the image as
    it is and the most salient ones are ``alpha`` heatmap."""
    m = np.asarray(smap, dtype=np.float32)
    top = float(m.max())
    weight = (alpha * m / top if top > 0 else np.zeros_like(m))[..., None]
    heat = heatmap_rgb(m, colormap).astype(np.float32)
    return np.clip((1 - weight) * image.astype(np.float32) + weight * heat, 0, 255).astype(np.uint8)


def comparison_figure(
    rows: list[dict],
    labels: list[str],
    colormap: str = DEFAULT_COLORMAP,
    alpha: float = DEFAULT_ALPHA,
):
    """One row per image: the image, its ground truth (density with fixations) when known, then
    the heatmap of each model over the image. ``rows`` hold ``image``, ``maps`` (one per label)
    and optionally ``density``, ``fixations`` (N x 2, x y) and ``title``."""
    has_gt = any(r.get("density") is not None for r in rows)
    ncols = 1 + has_gt + len(labels)
    fig, axes = plt.subplots(
        len(rows), ncols, figsize=(3.2 * ncols, 2.6 * len(rows)), squeeze=False
    )
    for i, row in enumerate(rows):
        ax = axes[i]
        ax[0].imshow(row["image"])
        ax[0].set_title(row.get("title", "image"), fontsize=9)
        col = 1
        if has_gt:
            if row.get("density") is not None:
                ax[col].imshow(overlay(row["image"], row["density"], alpha, colormap))
                fix = row.get("fixations")
                if fix is not None and len(fix):
                    ax[col].scatter(fix[:, 0] - 0.5, fix[:, 1] - 0.5, s=4, c="cyan", linewidths=0)
            ax[col].set_title("human fixations (density)", fontsize=9)
            col += 1
        for label, smap in zip(labels, row["maps"]):
            ax[col].imshow(overlay(row["image"], smap, alpha, colormap))
            ax[col].set_title(label, fontsize=9)
            col += 1
        for a in ax:
            a.set_xticks([])
            a.set_yticks([])
    fig.suptitle(
        "Predicted saliency (heatmap over the image, brighter = more looked at)", fontsize=11
    )
    fig.tight_layout()
    return fig
