"""Figures: heatmap overlays, comparison grids and training curves (matplotlib)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from salmap.models.io import atomic_write_bytes  # noqa: E402

DEFAULT_COLORMAP = "inferno"  # perceptually uniform, readable in grayscale print


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """Render ``fig`` to PNG at ``path`` atomically and close it."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())


def plot_training_curves(metrics_csv: Path, out_png: Path) -> None:
    """Loss and SSIM against epoch, train and validation together (the seed's figures)."""
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    epoch = [int(r["epoch"]) for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, title in ((axes[0], "loss", "Loss"), (axes[1], "ssim", "SSIM")):
        for split, style in (("train", "-"), ("val", "--")):
            col = f"{split}_{key}"
            values = [float(r[col]) if r.get(col) not in (None, "") else np.nan for r in rows]
            ax.plot(epoch, values, style, marker="o" if len(epoch) < 30 else None, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(title)
        ax.set_title(f"{title}: train and validation")
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, out_png)


def heatmap_rgb(smap: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """H x W map (any scale) -> H x W x 3 uint8 colour image, scaled to its own maximum."""
    m = np.asarray(smap, dtype=np.float64)
    top = m.max()
    m = m / top if top > 0 else m
    return (plt.get_cmap(colormap)(m)[..., :3] * 255).round().astype(np.uint8)


def overlay(
    image: np.ndarray, smap: np.ndarray, alpha: float = 0.5, colormap: str = DEFAULT_COLORMAP
) -> np.ndarray:
    """Blend the heatmap of ``smap`` over ``image`` (both H x W); ``alpha`` is the heatmap's opacity."""
    heat = heatmap_rgb(smap, colormap).astype(np.float32)
    return np.clip((1 - alpha) * image.astype(np.float32) + alpha * heat, 0, 255).astype(np.uint8)
