"""Figures: heatmap overlays, fog views, comparison grids and training curves.

Overlays follow attention *mass* by default: a pixel is coloured by the share of the predicted
attention that lies in pixels at least as salient as it (:func:`mass_levels`), so the region
holding the top 25% of attention looks the same whether that attention sits on one bright spot
or spreads over a large area. ``scale="peak"`` keeps the older scale, relative to the single
most salient pixel. Colouring goes through a 256-entry lookup table (:func:`colormap_lut`), and
large images are processed in bands of rows to bound memory.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np

from salmap.errors import SalmapError
from salmap.files import atomic_write_bytes

DEFAULT_COLORMAP = "inferno"  # perceptually uniform, readable in grayscale print
DEFAULT_ALPHA = 0.7  # heatmap opacity of an overlay at its most salient pixel
JPEG_QUALITY = 92  # of salmap's overlays, fog views and crops
SCALES = ("mass", "peak")
DEFAULT_SCALE = "mass"
# The contour lines and the legend mark the smallest regions holding these shares of attention.
MASS_CONTOURS = (0.25, 0.5, 0.75)
# The fog view leaves the region holding this share of attention clear and darkens the rest,
# down to FOG_FLOOR of its brightness where the predicted attention is lowest.
FOG_CLEAR = 0.75
FOG_FLOOR = 0.2
# mass_levels is exact on maps of up to this many pixels and samples larger ones down to it:
# they hold no more detail than the model's output (512 x 512 for the shipped model) upsampled.
_LEVEL_SAMPLES = 512 * 512
_LEVEL_STEPS = 4096
_BAND_PIXELS = 2_000_000


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_bytes(array, fmt: str = "PNG", quality: int | None = None) -> bytes:
    """An H x W (x 3) uint8 or uint16 array (or a PIL image) as the bytes of a ``fmt`` file:
    PNG, or JPEG or WEBP at ``quality`` (1-100; default :data:`JPEG_QUALITY`)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    kw = {"quality": quality or JPEG_QUALITY} if fmt in ("JPEG", "WEBP") else {}
    picture = array if isinstance(array, Image.Image) else Image.fromarray(array)
    picture.save(buf, format=fmt, **kw)
    return buf.getvalue()


def map_array(density: np.ndarray, bits: int = 8) -> np.ndarray:
    """The map as the PNG holds it: the density scaled so its peak is 255 (or 65535), rounded."""
    top = 65535 if bits == 16 else 255
    scaled = np.rint(density * np.float32(top / max(float(density.max()), 1e-30)))
    return scaled.astype(np.uint16 if bits == 16 else np.uint8)


@lru_cache(maxsize=16)
def colormap_lut(name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """A matplotlib colormap as a 256 x 3 uint8 table; an unknown name raises a SalmapError
    that lists a few valid ones."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        some = ", ".join(sorted(n for n in matplotlib.colormaps if not n.endswith("_r"))[:12])
        raise SalmapError(
            f"unknown colormap {name!r} (names are case-sensitive), e.g. {some}"
        ) from None
    table = (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
    table.flags.writeable = False  # cached and shared: no caller may change it
    return table


def _bands(h: int, w: int):
    """Row slices of an H x W image, each of about _BAND_PIXELS pixels."""
    step = max(1, _BAND_PIXELS // max(w, 1))
    return [slice(r, min(h, r + step)) for r in range(0, h, step)]


def mass_levels(density: np.ndarray) -> np.ndarray:
    """For each pixel of an H x W map (any non-negative scale), the share of the map's total
    in pixels whose value is at least the pixel's own: H x W float32 in [0, 1].

    Near 0 at the most salient pixel, 1 at the least salient; ``mass_levels(d) <= 0.5`` is the
    smallest region holding half of the attention. A map that is zero everywhere gives 1.
    Exact up to :data:`_LEVEL_SAMPLES` pixels; on a larger map (a smooth upsampling of the
    model's output) the share above each of :data:`_LEVEL_STEPS` values from 0 to the maximum
    is measured on an evenly strided sample, and each pixel takes its nearest value's."""
    d = np.asarray(density, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f"expected an H x W map, got shape {d.shape}")
    if d.size <= _LEVEL_SAMPLES:
        return _exact_mass_levels(d)
    stride = int(np.ceil((d.size / _LEVEL_SAMPLES) ** 0.5))
    values = np.sort(d[::stride, ::stride], axis=None).astype(np.float64)
    top = float(d.max())
    if not values.sum() > 0:
        return np.ones(d.shape, np.float32)
    tail = np.append(np.cumsum(values[::-1])[::-1], 0.0) / values.sum()
    curve = tail[np.searchsorted(values, np.linspace(0, top, _LEVEL_STEPS))].astype(np.float32)
    out = np.empty(d.shape, np.float32)
    for rows in _bands(*d.shape):
        out[rows] = curve[np.rint(d[rows] * np.float32((_LEVEL_STEPS - 1) / top)).astype(np.int32)]
    return out


def _exact_mass_levels(d: np.ndarray) -> np.ndarray:
    flat = d.ravel()
    order = np.argsort(flat)
    values = flat[order].astype(np.float64)
    tail = np.cumsum(values[::-1])[::-1]  # tail[i]: the total of values[i:]
    if not tail.size or not tail[0] > 0:
        return np.ones(d.shape, np.float32)
    first = np.searchsorted(values, values, side="left")  # ties share the level of all of them
    out = np.empty(flat.size, np.float32)
    out[order] = tail[first] / tail[0]
    return out.reshape(d.shape)


def _heat(smap: np.ndarray, scale: str, rows: slice | None = None, levels=None) -> np.ndarray:
    """Heat in [0, 1] (1 = most salient) of ``smap[rows]`` on ``scale``."""
    if scale == "mass":
        return 1.0 - (levels if rows is None else levels[rows])
    if scale != "peak":
        raise SalmapError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    top = float(smap.max())
    band = np.asarray(smap if rows is None else smap[rows], dtype=np.float32)
    return band / top if top > 0 else np.zeros_like(band)


def _prepare(smap: np.ndarray, scale: str):
    smap = np.asarray(smap)
    if scale not in SCALES:
        raise SalmapError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    return smap, (mass_levels(smap) if scale == "mass" else None)


def _opacity(heat: np.ndarray, scale: str) -> np.ndarray:
    """Opacity in [0, 1] of the heatmap over the image: on the mass scale, full over the
    smallest region holding half of the attention and fading to nothing outside the rest;
    on the peak scale, the heat itself."""
    return np.minimum(1.0, 2.0 * heat) if scale == "mass" else heat


def _lookup(heat: np.ndarray, lut: np.ndarray) -> np.ndarray:
    return lut[np.clip(np.rint(heat * 255), 0, 255).astype(np.uint8)]


def heatmap_rgb(
    smap: np.ndarray, colormap: str = DEFAULT_COLORMAP, scale: str = DEFAULT_SCALE
) -> np.ndarray:
    """H x W map (any scale) -> H x W x 3 uint8 colour image, coloured by attention mass
    (``scale="mass"``) or relative to the map's maximum (``"peak"``)."""
    lut = colormap_lut(colormap)
    smap, levels = _prepare(smap, scale)
    out = np.empty((*smap.shape, 3), np.uint8)
    for rows in _bands(*smap.shape):
        out[rows] = _lookup(_heat(smap, scale, rows, levels), lut)
    return out


def overlay(
    image,
    smap: np.ndarray,
    alpha: float = DEFAULT_ALPHA,
    colormap: str = DEFAULT_COLORMAP,
    scale: str = DEFAULT_SCALE,
    contours: bool = False,
) -> np.ndarray:
    """The heatmap of ``smap`` over ``image`` (a path, PIL image or H x W x 3 array, as
    ``model.predict`` takes it; both H x W), as H x W x 3 uint8: each pixel's opacity is
    ``alpha`` times its opacity on ``scale`` (:func:`_opacity`), so the least salient regions
    show the image as it is. With ``contours``, white lines bound the smallest regions holding
    :data:`MASS_CONTOURS` of the attention."""
    lut = colormap_lut(colormap)
    image = _image(image)
    smap, levels = _prepare(smap, scale)
    if image.shape[:2] != smap.shape:
        raise ValueError(f"image {image.shape[:2]} and map {smap.shape} differ in size")
    out = np.empty(image.shape[:2] + (3,), np.uint8)
    for rows in _bands(*smap.shape):
        heat = _heat(smap, scale, rows, levels)
        weight = (alpha * _opacity(heat, scale))[..., None]
        blend = (1 - weight) * image[rows].astype(np.float32) + weight * _lookup(heat, lut)
        out[rows] = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    if contours:
        draw_contours(out, levels if levels is not None else mass_levels(smap))
    return out


def draw_contours(rgb: np.ndarray, levels: np.ndarray, shares=MASS_CONTOURS) -> np.ndarray:
    """Draw, in place on H x W x 3 ``rgb``, white lines where ``levels`` (from
    :func:`mass_levels`) crosses each of ``shares``; lines are about 1/400 of the shorter side
    thick (at least 1 pixel)."""
    from scipy.ndimage import binary_dilation

    width = max(1, round(min(levels.shape) / 400))
    for share in shares:
        inside = levels <= share
        edge = np.zeros_like(inside)
        edge[1:] |= inside[1:] != inside[:-1]
        edge[:, 1:] |= inside[:, 1:] != inside[:, :-1]
        if width > 1:
            edge = binary_dilation(edge, iterations=width - 1)
        rgb[edge] = 255
    return rgb


def _image(image) -> np.ndarray:
    """An image as H x W x 3 uint8 (see :func:`salmap.data.images.to_rgb_array`)."""
    from salmap.data.images import to_rgb_array

    return to_rgb_array(image)


def fog(image, density: np.ndarray, clear: float = FOG_CLEAR) -> np.ndarray:
    """``image`` darkened where predicted attention is low: the smallest region holding
    ``clear`` of the attention keeps its brightness, the rest fades to :data:`FOG_FLOOR` of it
    as the share of attention above it tends to 1 (H x W x 3 uint8; ``image`` as
    :func:`overlay` takes it)."""
    image = _image(image)
    levels = mass_levels(density)
    if image.shape[:2] != levels.shape:
        raise ValueError(f"image {image.shape[:2]} and map {levels.shape} differ in size")
    out = np.empty(image.shape[:2] + (3,), np.uint8)
    for rows in _bands(*levels.shape):
        light = np.clip((1 - levels[rows]) / (1 - clear), 0, 1)
        factor = (FOG_FLOOR + (1 - FOG_FLOOR) * light)[..., None]
        out[rows] = np.rint(image[rows] * factor).astype(np.uint8)
    return out


def legend(width: int, scale: str = DEFAULT_SCALE, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """A band, ``width`` pixels wide (H x width x 3 uint8), that explains an overlay's colours:
    a colour bar, its scale's marks, and what the colours mean; to put under the overlay
    (:func:`with_legend`)."""
    from PIL import Image, ImageDraw, ImageFont

    if scale not in SCALES:
        raise SalmapError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    size = max(10, min(28, round(width / 40)))
    margin = size // 2
    bar_h = max(6, size * 2 // 3)
    height = margin + bar_h + 2 * round(size * 1.3) + margin // 2
    band = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    font = ImageFont.load_default(size=size)
    bar_w = max(1, width - 2 * margin)
    ramp = colormap_lut(colormap)[np.linspace(0, 255, bar_w).round().astype(int)]
    band.paste(Image.fromarray(np.repeat(ramp[None], bar_h, axis=0)), (margin, margin))
    if scale == "mass":
        marks = [(1 - s, f"{round(100 * s)}%") for s in MASS_CONTOURS]
        titles = (  # the longest that fits the width at the legend's size
            "brightest regions holding 25%, 50%, 75% of predicted attention",
            "brightest regions: 25%, 50%, 75% of attention",
            "share of attention",
        )
    else:
        marks = [(0.5, "half the peak"), (1.0, "peak")]
        titles = (
            "predicted attention relative to the most salient pixel",
            "attention relative to the peak",
            "relative to the peak",
        )
    y = margin + bar_h
    for heat, label in marks:
        x = margin + round(heat * (bar_w - 1))
        draw.line([(x, margin), (x, y + 2)], fill=(0, 0, 0), width=max(1, size // 10))
        anchor = "ra" if heat > 0.9 else "ma"
        draw.text((x, y + 3), label, fill=(0, 0, 0), font=font, anchor=anchor)
    fits = [t for t in titles if draw.textlength(t, font=font) <= bar_w]
    title = fits[0] if fits else titles[-1]
    while draw.textlength(title, font=font) > bar_w and font.size > 6:  # very narrow images
        font = ImageFont.load_default(size=font.size - 1)
    draw.text((margin, y + 3 + round(size * 1.3)), title, fill=(0, 0, 0), font=font)
    return np.asarray(band)


def with_legend(rgb: np.ndarray, scale: str = DEFAULT_SCALE, colormap: str = DEFAULT_COLORMAP):
    """``rgb`` (H x W x 3 uint8) with :func:`legend` below it."""
    return np.concatenate([rgb, legend(rgb.shape[1], scale, colormap)], axis=0)


def mark_fold(rgb: np.ndarray, fold: int) -> np.ndarray:
    """Draw, in place on H x W x 3 ``rgb``, the fold of a long page: a black and white dashed
    line across row ``fold`` (visible on light and dark pages) labelled "fold"; lines about
    1/400 of the width thick (at least 2 pixels)."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = rgb.shape[:2]
    if not 0 < fold < h:
        return rgb
    thick = max(2, round(w / 400))
    dash = 6 * thick
    rows = slice(max(0, fold - thick // 2), fold - thick // 2 + thick)
    on = (np.arange(w) // dash) % 2 == 0
    rgb[rows, on] = 255
    rgb[rows, ~on] = 0
    size = max(10, min(28, round(w / 50)))
    font = ImageFont.load_default(size=size)
    label = "fold"
    lw = round(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(label, font=font)) + size
    top = max(0, fold - thick - size - size // 2)
    tag = Image.fromarray(rgb[top : top + size + size // 2, w - lw :])
    tag.paste((0, 0, 0), (0, 0, tag.width, tag.height))
    ImageDraw.Draw(tag).text((size // 2, size // 4), label, fill=(255, 255, 255), font=font)
    rgb[top : top + tag.height, w - lw :] = np.asarray(tag)
    return rgb


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """Render ``fig`` to PNG at ``path`` atomically and close it."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)
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
    fig, axes = _pyplot().subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
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


def comparison_figure(
    rows: list[dict],
    labels: list[str],
    colormap: str = DEFAULT_COLORMAP,
    alpha: float = DEFAULT_ALPHA,
    scale: str = DEFAULT_SCALE,
):
    """One row per image: the image, its ground truth (density with fixations) when known, then
    the heatmap of each model over the image. ``rows`` hold ``image``, ``maps`` (one per label)
    and optionally ``density``, ``fixations`` (N x 2, x y) and ``title``."""
    has_gt = any(r.get("density") is not None for r in rows)
    ncols = 1 + has_gt + len(labels)
    fig, axes = _pyplot().subplots(
        len(rows), ncols, figsize=(3.2 * ncols, 2.6 * len(rows)), squeeze=False
    )
    for i, row in enumerate(rows):
        ax = axes[i]
        ax[0].imshow(row["image"])
        ax[0].set_title(row.get("title", "image"), fontsize=9)
        col = 1
        if has_gt:
            if row.get("density") is not None:
                ax[col].imshow(overlay(row["image"], row["density"], alpha, colormap, scale))
                fix = row.get("fixations")
                if fix is not None and len(fix):
                    ax[col].scatter(fix[:, 0] - 0.5, fix[:, 1] - 0.5, s=4, c="cyan", linewidths=0)
            ax[col].set_title("human fixations (density)", fontsize=9)
            col += 1
        for label, smap in zip(labels, row["maps"]):
            ax[col].imshow(overlay(row["image"], smap, alpha, colormap, scale))
            ax[col].set_title(label, fontsize=9)
            col += 1
        for a in ax:
            a.set_xticks([])
            a.set_yticks([])
    fig.suptitle(
        "Predicted saliency (heatmap over the image, brighter = more looked at)"
        if scale == "peak"
        else "Predicted saliency: brighter = within a smaller region holding more of the attention",
        fontsize=11,
    )
    fig.tight_layout()
    return fig
