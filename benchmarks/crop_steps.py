"""Where `salmap crop`'s time goes, step by step, on the fast path it takes by default: for each
image, the full decode (:func:`salmap.data.images.load_image`), the scaling to the model's
input (:func:`salmap.inference.read_input` on the decoded pixels, the map at
:data:`salmap.cropping.FAST_MAP_SIDE`), the model, the map brought back to that size
(:func:`salmap.inference.restore`), the window search at 1:1 placed on the image and the crop
encoded as JPEG (:func:`salmap.viz.image_bytes`, in memory). One thread, in the order `salmap crop` runs them but
without its threads, start-up and files (benchmarks/bench_crop_speed.sh times whole runs).

    taskset -c 1 python benchmarks/crop_steps.py ../shared/datasets/nus-scene/stimuli [--n 300]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from salmap.cropping import FAST_MAP_SIDE, best_windows
from salmap.data.images import load_image
from salmap.export import OnnxModel
from salmap.inference import read_input, restore
from salmap.models.io import fast_model
from salmap.viz import image_bytes

STEPS = ("decode", "scale to input", "model", "map", "window search", "JPEG of the crop")


def steps(model, path: Path) -> list[float]:
    """Seconds of each of STEPS for the image at ``path``."""
    times = [time.perf_counter()]
    image = load_image(path)
    times.append(time.perf_counter())
    _, x, geometry = read_input(
        image, model.config, max_output_side=FAST_MAP_SIDE, keep_pixels=False
    )
    times.append(time.perf_counter())
    prediction = model(x[None])[0]
    times.append(time.perf_counter())
    density = restore(prediction, geometry)
    times.append(time.perf_counter())
    window = best_windows(density, ["1:1"], 1.0, (image.shape[1], image.shape[0]))["1:1"]
    times.append(time.perf_counter())
    x0, y0, x1, y1 = window.box
    image_bytes(image[y0:y1, x0:x1], "JPEG")  # at salmap's JPEG quality, as crops are written
    times.append(time.perf_counter())
    return [b - a for a, b in zip(times, times[1:])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="a folder of JPEG images (the first N, sorted)")
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    paths = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    paths = paths[: args.n]

    model = OnnxModel(fast_model("default"), threads=1)
    steps(model, paths[0])  # warm-up
    total = [0.0] * len(STEPS)
    for path in paths:
        total = [t + s for t, s in zip(total, steps(model, path))]
    print(f"{len(paths)} images of {args.folder}, {model.path.name}, one thread: ms per image")
    for name, t in zip(STEPS, total):
        print(f"  {name:<18} {1000 * t / len(paths):6.1f}")
    print(f"  {'all':<18} {1000 * sum(total) / len(paths):6.1f}")


if __name__ == "__main__":
    main()
