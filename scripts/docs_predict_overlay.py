"""Draws docs/predict_overlay.png: a bundled photo and a rendered web-page design, each as the
peak-scale overlay (before), the mass-scale overlay with contours (now) and the fog view.

    python scripts/docs_predict_overlay.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_predict import screenshot  # noqa: E402

import salmap  # noqa: E402
from salmap.data import load_image  # noqa: E402
from salmap.files import atomic_write_bytes  # noqa: E402
from salmap.viz import fog, overlay, with_legend  # noqa: E402

WIDTH = 280  # of each panel


def panels(image: np.ndarray, density: np.ndarray) -> list[np.ndarray]:
    return [
        with_legend(overlay(image, density, scale="peak"), "peak"),
        with_legend(overlay(image, density, contours=True)),
        fog(image, density),
    ]


def main():
    model = salmap.load_model()
    photo = ROOT / "salmap" / "data" / "nus_mini" / "images" / "258.jpg"
    with tempfile.TemporaryDirectory() as tmp:
        design = load_image(screenshot(1, Path(tmp), photo))
    rows = []
    for image in (load_image(photo), design):
        h = round(image.shape[0] * WIDTH / image.shape[1])
        small = np.asarray(Image.fromarray(image).resize((WIDTH, h), Image.LANCZOS))
        density = model.predict(small)
        rows.append(panels(small, density))
    titles = ["peak scale (--scale peak)", "mass scale + --contours", "--save fog"]
    head = 24
    height = head + sum(max(p.shape[0] for p in row) for row in rows)
    canvas = Image.new("RGB", (3 * WIDTH + 20, height), "white")
    draw = ImageDraw.Draw(canvas)
    for k, title in enumerate(titles):
        draw.text((k * (WIDTH + 10), 4), title, fill="black", font=ImageFont.load_default(14))
    y = head
    for row in rows:
        for k, panel in enumerate(row):
            canvas.paste(Image.fromarray(panel), (k * (WIDTH + 10), y))
        y += max(p.shape[0] for p in row)
    out = ROOT / "docs" / "predict_overlay.png"
    import io

    buf = io.BytesIO()
    palette = canvas.quantize(256, method=Image.Quantize.MEDIANCUT)  # dithered, not banded
    canvas.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())
    print(f"wrote {out} ({len(buf.getvalue()) // 1024} KB)")


if __name__ == "__main__":
    main()
