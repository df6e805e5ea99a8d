"""docs/serve.png: the page of ``salmap serve`` (default model) in headless Chromium with a web
design, its heatmap and legend, and three named regions; saved in 256 colours.

    nice .venv/bin/python scripts/docs_serve_page.py [--out docs/serve.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_page_big import browser  # noqa: E402
from bench_serve import free_port, start_server  # noqa: E402

# named boxes in fractions of the design, as the page's template takes them
REGIONS = {
    "units": "fraction",
    "regions": [
        {"name": "headline", "box": [0.05, 0.07, 0.62, 0.22]},
        {"name": "photo", "box": [0.05, 0.33, 0.47, 0.85]},
        {"name": "button", "box": [0.6, 0.66, 0.9, 0.82]},
    ],
}


def web_design(path: Path, size=(1200, 750)) -> Path:
    """A landing page: a headline, a line of text, a photo (a NUS-Scene image) and a button."""
    w, h = size
    im = Image.new("RGB", size, (250, 248, 244))
    g = ImageDraw.Draw(im)
    g.text((w * 0.06, h * 0.08), "Summer sale", fill=(20, 24, 40), font=ImageFont.load_default(96))
    g.text((w * 0.06, h * 0.24), "Light jackets for long evenings, 30% off this week.",
           fill=(90, 96, 110), font=ImageFont.load_default(28))  # fmt: skip
    with Image.open(REPO / "salmap/data/nus_mini/images/226.jpg") as photo:
        im.paste(photo.convert("RGB").resize((480, 360)), (int(w * 0.06), int(h * 0.35)))
    g.rounded_rectangle((730, 500, 1070, 605), radius=18, fill=(228, 87, 46))
    g.text((790, 528), "Shop the sale", fill="white", font=ImageFont.load_default(40))
    im.save(path)
    return path


def wait(driver, script: str, timeout: float = 120) -> None:
    for _ in range(int(timeout * 10)):
        if driver.execute_script(script):
            return
        time.sleep(0.1)
    raise SystemExit(f"the page did not get there within {timeout:.0f} s: {script}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "docs/serve.png")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        page = web_design(Path(tmp) / "landing-page.png")
        proc, url = start_server("default", free_port(), 8, 5.0, cache=32)
        driver = browser()
        try:
            driver.set_window_size(1280, 860)
            driver.get(url)
            wait(driver, "return document.getElementById('model').textContent.includes('model:')")
            driver.find_element("id", "files").send_keys(str(page))
            wait(driver, "return state.items[0] && !!state.items[0].viewData")
            driver.execute_script(f"useOnEveryImage(parseRegionSet({REGIONS}))")
            time.sleep(0.5)
            shot = Path(tmp) / "page.png"
            driver.save_screenshot(str(shot))
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(timeout=30)
        with Image.open(shot) as im:
            quantized = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
        quantized.save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
