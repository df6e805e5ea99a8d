"""Speed of every metric in salmap.metrics on 100 images of 1024 x 768 with their fixations.

NUS-Scene images (../shared/datasets/nus-scene, when present) are resized to 1024 x 768 with
their fixations and ground-truth densities; elsewhere synthetic fixations stand in (the metrics
never look at the pixels). The prediction scored is a noisy centre bias, the IG baseline the
centre Gaussian, the sAUC negatives the fixations of the other images: each metric is timed
through `salmap.evaluate.score_map`, the call `salmap evaluate` makes.

    python benchmarks/bench_metrics.py [--data DIR] [--n 100] [--size 768 1024]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from salmap.baselines import centre_gaussian
from salmap.data import density_map, open_dataset
from salmap.data.transforms import Resize
from salmap.evaluate import METRICS, OtherFixations, ground_truth, score_map

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "nus-scene"


def nus_images(path: Path, n: int, size: tuple[int, int]) -> list[dict]:
    ds = open_dataset(path)
    resize = Resize(size)
    step = max(1, len(ds) // n)
    return [resize(ds.sample(i, density=False)) for i in range(0, step * n, step)][:n]


def synthetic_images(n: int, size: tuple[int, int]) -> list[dict]:
    rng = np.random.default_rng(0)
    h, w = size
    image = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (h, w, 3))  # never looked at
    out = []
    for i in range(n):
        centres = rng.uniform(0.2, 0.8, (4, 2)) * [w, h]
        fix = np.concatenate([rng.normal(c, 0.06 * w, (22, 2)) for c in centres])
        fix = fix[(fix[:, 0] >= 0) & (fix[:, 0] < w) & (fix[:, 1] >= 0) & (fix[:, 1] < h)]
        smap = density_map(fix, size)
        out.append({"id": str(i), "image": image, "fixations": fix, "saliency_map": smap})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=str(SHARED), help="NUS-Scene folder (synthetic if absent)")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--size", type=int, nargs=2, default=(768, 1024), metavar=("H", "W"))
    args = p.parse_args()
    size = tuple(args.size)

    t = time.perf_counter()
    if (Path(args.data) / "tidy" / "fixations.mat").is_file():
        images, source = nus_images(Path(args.data), args.n, size), args.data
    else:
        images, source = synthetic_images(args.n, size), "synthetic fixations"
    prep = time.perf_counter() - t
    h, w = size
    other = OtherFixations([im["fixations"] / [w, h] for im in images])
    truths = [ground_truth(im, other.points_for(i, size)) for i, im in enumerate(images)]
    rng = np.random.default_rng(1)
    centre = centre_gaussian(size)
    predictions = [centre * rng.uniform(0.8, 1.2, size).astype(np.float32) for _ in images]
    n_fix = np.mean([len(im["fixations"]) for im in images])
    print(
        f"{len(images)} images of {w}x{h} from {source}, {n_fix:.0f} fixations each on average; "
        f"reading, resizing and ground-truth densities {prep:.1f} s"
    )

    score_map(predictions[0], truths[0], ["ssim"])  # import torch outside the timing
    times = {}
    print(f"{'metric':<14}{'total s':>9}{'ms/image':>10}{'mean':>9}")
    for name in METRICS:
        t = time.perf_counter()
        values = [score_map(s, truth, [name])[name] for s, truth in zip(predictions, truths)]
        times[name] = time.perf_counter() - t
        ms = 1000 * times[name] / len(images)
        print(f"{name:<14}{times[name]:9.2f}{ms:10.1f}{np.mean(values):9.3f}")
    default = sum(t for name, t in times.items() if name not in ("ssim", "emd"))
    print(
        f"{'default set':<14}{default:9.2f}{1000 * default / len(images):10.1f}  (all but ssim, emd)"
    )
    total = sum(times.values())
    print(f"{'all metrics':<14}{total:9.2f}{1000 * total / len(images):10.1f}")


if __name__ == "__main__":
    main()
