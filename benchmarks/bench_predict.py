"""End-to-end `salmap predict` speed and memory: today's default path against the new one.

Runs, in one go on the same images, each as its own `salmap predict IMAGES --out DIR` process
(start-up included, as a user meets it):

- ``before``: the code of git commit ``--ref`` (default: main just before issue 16, whose
  default was eager PyTorch and peak-scale overlays coloured through matplotlib), from a
  ``git archive`` copy in a temporary folder;
- ``new``: this checkout's default (the shipped ONNX model on onnxruntime, mass-scale
  overlays through a lookup table, JPEG draft decoding);
- ``new --runner torch``: this checkout on eager PyTorch.

Images: real NUS-Scene photos upscaled to about 1.5 and 2 megapixels (JPEG) and rendered
screenshot-like designs (1920 x 1080 PNG), made in a temporary folder; then one 48-megapixel
JPEG for peak memory (maximum resident set size of the process) and time.

    nice python benchmarks/bench_predict.py [--photos 8] [--screens 4] [--ref COMMIT]

With ``--shipped``, the shipped models side by side instead (this checkout only): ``default``
and ``accurate`` on their default runner, on PyTorch, and ``accurate`` exported to ONNX
(``salmap export --half``) on onnxruntime.

With ``--gpu-only``, only the GPU rows: this checkout on PyTorch with ``--device cuda`` (bf16
autocast) at batch 8 and 32, on the same kind of images (no git archive needed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets" / "nus-scene" / "stimuli"
BUNDLED = ROOT / "salmap" / "data" / "nus_mini" / "images"
BEFORE = "4dd8577"  # main just before issue 16 (eager PyTorch by default)

# Runs one CLI command and reports its peak memory: the child's own maximum resident set.
RUN = """
import resource, sys, time
sys.path.insert(0, sys.argv[1])
t = time.perf_counter()
from salmap.cli import main
code = main(sys.argv[2:])
print("BENCH", time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code)
"""


def photos(n: int, folder: Path, pixels=(2.0e6, 1.5e6), source=None, quality=92) -> list[Path]:
    """``n`` real photos (of ``source``, a list of paths; by default NUS-Scene's, else the
    bundled ones) upscaled to ``pixels`` each, taken in turn (about 2 and 1.5 megapixels)."""
    if source is None:
        source = sorted((SHARED if SHARED.is_dir() else BUNDLED).glob("*.jpg"))
    out = []
    for k, path in enumerate(source[:n]):
        im = Image.open(path).convert("RGB")
        scale = (pixels[k % len(pixels)] / (im.width * im.height)) ** 0.5
        big = im.resize((round(im.width * scale), round(im.height * scale)), Image.BICUBIC)
        out.append(folder / f"photo_{k:02d}.jpg")
        big.save(out[-1], quality=quality)
    return out


def screenshot(k: int, folder: Path, photo: Path) -> Path:
    """A 1920 x 1080 web-page-like design: header, hero photo, headline, text, buttons, price."""
    rng = np.random.default_rng(k)
    im = Image.new("RGB", (1920, 1080), (248, 248, 246))
    d = ImageDraw.Draw(im)
    accent = tuple(int(v) for v in rng.integers(30, 200, 3))
    d.rectangle([0, 0, 1920, 90], fill=(32, 36, 44))
    font = lambda size: ImageFont.load_default(size=size)  # noqa: E731
    d.text((60, 25), "Brand", fill="white", font=font(40))
    for i, item in enumerate(["Products", "Pricing", "About", "Contact"]):
        d.text((1100 + 190 * i, 32), item, fill=(220, 220, 220), font=font(28))
    hero = Image.open(photo).convert("RGB").resize((900, 600))
    im.paste(hero, (960 if k % 2 else 60, 160))
    x = 60 if k % 2 else 1020
    d.text((x, 180), "A headline that sells", fill=(20, 20, 20), font=font(64))
    for line in range(8):
        width = int(rng.integers(500, 820))
        d.rectangle([x, 300 + 42 * line, x + width, 318 + 42 * line], fill=(150, 150, 150))
    d.rounded_rectangle([x, 680, x + 300, 760], 20, fill=accent)
    d.text((x + 40, 700), "Buy now", fill="white", font=font(40))
    d.text((x + 360, 690), f"${int(rng.integers(19, 99))}.99", fill=accent, font=font(56))
    d.rectangle([0, 880, 1920, 1080], fill=(230, 230, 228))
    for col in range(4):
        d.text((60 + 470 * col, 920), "Footer link", fill=(90, 90, 90), font=font(26))
    path = folder / f"screen_{k:02d}.png"
    im.save(path)
    return path


def run_predict(code_dir: Path, images, out: Path, *options) -> tuple[float, float, int]:
    """Wall seconds of the whole process, peak memory in MB, exit status."""
    t = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", RUN, str(code_dir), "predict", *map(str, images)]
        + ["--out", str(out), *options],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    line = [x for x in result.stdout.splitlines() if x.startswith("BENCH")]
    if result.returncode != 0 or not line:
        raise SystemExit(f"predict failed in {code_dir}:\n{result.stderr[-3000:]}")
    _, _, rss_kb, _ = line[0].split()
    return wall, int(rss_kb) / 1024, result.returncode


def gpu_rows(args, work: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("--gpu-only: no CUDA device")
    inputs = work / "in"
    inputs.mkdir()
    shots = photos(args.photos, inputs)
    shots += [screenshot(k, inputs, shots[k % len(shots)]) for k in range(args.screens)]
    print(f"{len(shots)} images on {torch.cuda.get_device_name()}, default outputs map + overlay")
    print(f"{'path':<44} {'wall s':>7} {'images/s':>9} {'peak MB':>8}")
    for batch in (8, 32):
        name = f"--runner torch --device cuda --batch-size {batch}"
        options = ["--runner", "torch", "--device", "cuda", "--batch-size", str(batch)]
        wall, mb, _ = run_predict(ROOT, shots, work / f"gpu{batch}", *options)
        print(f"{name:<44} {wall:7.1f} {len(shots) / wall:9.2f} {mb:8.0f}", flush=True)


def shipped_rows(args, work: Path) -> None:
    """Speed of the shipped models on the same images, each its own process."""
    inputs = work / "in"
    inputs.mkdir()
    shots = photos(args.photos, inputs)
    shots += [screenshot(k, inputs, shots[k % len(shots)]) for k in range(args.screens)]
    onnx = work / "accurate.onnx"
    subprocess.run(
        [sys.executable, "-m", "salmap.cli", "export", "--model", "accurate", "--half"]
        + ["--out", str(onnx)],
        check=True,
        capture_output=True,
    )
    print(f"{len(shots)} images, default outputs map + overlay")
    print(f"{'model':<44} {'wall s':>7} {'images/s':>9} {'peak MB':>8}")
    variants = [
        ("default (onnxruntime, shipped export)", ["--model", "default"]),
        ("default --runner torch", ["--model", "default", "--runner", "torch"]),
        ("accurate (PyTorch)", ["--model", "accurate"]),
        ("accurate exported, onnxruntime", ["--model", str(onnx)]),
    ]
    for k, (name, options) in enumerate(variants):
        wall, mb, _ = run_predict(ROOT, shots, work / f"shipped{k}", *options)
        print(f"{name:<44} {wall:7.1f} {len(shots) / wall:9.2f} {mb:8.0f}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=8)
    p.add_argument("--screens", type=int, default=4)
    p.add_argument("--ref", default=BEFORE, help="git commit of the old code")
    p.add_argument("--skip-48mp", action="store_true")
    p.add_argument("--gpu-only", action="store_true", help="only the CUDA rows (see above)")
    p.add_argument("--shipped", action="store_true", help="the shipped models (see above)")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    try:
        if args.shipped:
            shipped_rows(args, work)
            return
        if args.gpu_only:
            gpu_rows(args, work)
            return
        old = work / "old"
        old.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.ref, "salmap"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        inputs = work / "in"
        inputs.mkdir()
        shots = photos(args.photos, inputs)
        shots += [screenshot(k, inputs, shots[k % len(shots)]) for k in range(args.screens)]
        mpx = np.mean([Image.open(s).width * Image.open(s).height for s in shots]) / 1e6
        print(
            f"{len(shots)} images ({args.photos} photos, {args.screens} screenshots; "
            f"{mpx:.1f} Mpx on average); default outputs map + overlay\n"
        )
        variants = [
            (f"before ({args.ref}): default", old, []),
            ("new: default (onnxruntime)", ROOT, []),
            ("new: --runner torch", ROOT, ["--runner", "torch"]),
        ]
        rows = {}
        print(f"{'path':<36} {'wall s':>7} {'images/s':>9} {'peak MB':>8}")
        for name, code, options in variants:
            wall, mb, _ = run_predict(code, shots, work / f"out{len(rows)}", *options)
            rows[name] = wall
            print(f"{name:<36} {wall:7.1f} {len(shots) / wall:9.2f} {mb:8.0f}", flush=True)
        base = rows[variants[0][0]]
        print(f"\nnew default: {base / rows[variants[1][0]]:.2f}x the old default end to end")
        if not args.skip_48mp:
            print("\n48-megapixel JPEG (8000 x 6000), default outputs (map + overlay):")
            big = work / "camera.jpg"
            src = Image.open(shots[0]).convert("RGB")
            src.resize((8000, 6000), Image.BICUBIC).save(big, quality=90)
            for name, code, options in variants[:2]:
                wall, mb, _ = run_predict(code, [big], work / f"big{len(rows)}", *options)
                rows[name + " 48"] = wall
                print(f"{name:<36} {wall:7.1f} s {mb:8.0f} MB peak", flush=True)
            wall, mb, _ = run_predict(ROOT, [big], work / "big_small", "--max-output-side", "2000")
            print(f"{'new: --max-output-side 2000':<36} {wall:7.1f} s {mb:8.0f} MB peak")
        print(json.dumps({k: round(v, 2) for k, v in rows.items()}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
