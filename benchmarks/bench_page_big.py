"""What a large upload costs the page: an 8000x6000 photo dropped on ``salmap serve``'s page in
headless Chromium, from choosing the file to the heatmap drawn.

The photo is a bundled NUS-Scene image enlarged to 8000x6000 (JPEG, quality 90). The script
starts a live server of ``--model`` on 127.0.0.1 and the page in headless Chromium (selenium,
chromedriver), drops the photo on it and reports the seconds until the heatmap is drawn, the
bytes of each API answer the page read (the browser's resource timing) and the JavaScript heap
afterwards (Chromium's ``performance.memory`` with precise figures).

    nice .venv/bin/python benchmarks/bench_page_big.py [--model default] [--size 8000x6000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import PHOTOS, free_port, start_server  # noqa: E402


def big_photo(folder: Path, size: tuple[int, int]) -> Path:
    path = folder / f"big_{size[0]}x{size[1]}.jpg"
    with Image.open(PHOTOS[0]) as im:
        im.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(path, quality=90)
    return path


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.add_argument("--enable-precise-memory-info")
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def measure(url: str, photo: Path, timeout: float = 600) -> dict:
    """Seconds to the drawn heatmap, the API's answers (path -> bytes) and the JS heap (MB)."""
    driver = browser()
    try:
        driver.get(url)
        for _ in range(600):
            if "model:" in driver.find_element("id", "model").text:
                break
            time.sleep(0.1)
        t = time.perf_counter()
        driver.find_element("id", "files").send_keys(str(photo))
        done = "const i = state.items[0]; return i && i.status !== 'busy' && !!i.viewData"
        while not driver.execute_script(done):
            if time.perf_counter() - t > timeout:
                raise SystemExit(f"the page did not draw {photo.name} within {timeout:.0f} s")
            time.sleep(0.05)
        seconds = time.perf_counter() - t
        status = driver.execute_script("return [state.items[0].status, state.items[0].error]")
        if status[0] != "done":
            raise SystemExit(f"the page failed on {photo.name}: {status[1]}")
        answers = driver.execute_script(
            "return performance.getEntriesByType('resource')"
            ".filter((e) => e.name.includes('/api/v1/') && !e.name.endsWith('/model'))"
            ".map((e) => [e.name.split('/api/v1')[1], e.decodedBodySize])"
        )
        heap = driver.execute_script("return performance.memory.usedJSHeapSize") / 2**20
        return {"seconds": seconds, "answers": dict(answers), "heap_mb": heap}
    finally:
        driver.quit()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--size", default="8000x6000", help="WxH of the photo")
    args = p.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        photo = big_photo(Path(tmp), size)
        proc, url = start_server(args.model, free_port(), 8, 5.0, cache=32)
        try:
            found = measure(url, photo)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        mb = photo.stat().st_size / 2**20
    print(f"{args.size} photo ({mb:.1f} MB JPEG), model {args.model}\n")
    print("| answer | bytes |\n|---|---|")
    for path, n in found["answers"].items():
        print(f"| {path} | {n:,} |")
    print(f"| all | {sum(found['answers'].values()):,} |\n")
    print(f"heatmap drawn after {found['seconds']:.1f} s; JS heap {found['heap_mb']:.0f} MB")


if __name__ == "__main__":
    main()
