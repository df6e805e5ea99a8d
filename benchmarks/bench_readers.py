"""Reader speed on a dataset: opening, header scan, full samples (decode + fixations + density
at the original resolution), and building the training cache at a given size.

    python benchmarks/bench_readers.py [PATH] [--size 288]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from salmap.data import NUS_MINI, open_dataset
from salmap.data.cache import build_cache

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "nus-scene"


def timed(label, fn, n):
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    print(f"{label:<48} {dt:7.2f} s  ({n / dt:8.1f} images/s)", flush=True)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("path", nargs="?", default=str(SHARED if SHARED.is_dir() else NUS_MINI))
    p.add_argument("--size", type=int, default=288)
    args = p.parse_args()
    ds = timed("open (list files, read fixations.mat)", lambda: open_dataset(args.path), 1)
    n = len(ds)
    print(f"{ds}")
    timed("image sizes from headers", lambda: [ds.image_size(i) for i in range(n)], n)
    timed(
        "samples without density (decode + fixations)",
        lambda: [ds.sample(i, density=False) for i in range(n)],
        n,
    )
    timed("samples with density at original resolution", lambda: [ds[i] for i in range(n)], n)
    with tempfile.TemporaryDirectory() as tmp:
        timed(
            f"cache build at {args.size}x{args.size} (2 threads)",
            lambda: build_cache(ds, (args.size, args.size), "pad", tmp, workers=2),
            n,
        )
        cache = build_cache(ds, (args.size, args.size), "pad", tmp)
        timed(
            "read every cached sample",
            lambda: [cache.images[i].sum() + cache.maps[i].sum() for i in range(n)],
            n,
        )


if __name__ == "__main__":
    main()
