"""`salmap predict` throughput: the local engine against Ray Data with 1 and 2 model actors.

All variants run in one process on the same photos and write the same outputs (map + overlay)
into fresh folders. Each is timed twice through the command itself (`salmap.cli.main`): on the
first ``--warm`` images and on all of them. "end to end" is images / time of the full job
(model loading, Ray actors starting); "steady" is (n - warm) / (t_n - t_warm), the rate once
started, which is what a job over millions of images runs at. The Ray instance is started once
(its start-up time is printed) with as many CPUs as the machine has.

A last row times the CPU side alone (decode, resize, map back to the image's size, encode and
write the outputs) with the model replaced by a constant map, in this process: it bounds what
a node can do however fast its GPU is.

    nice python benchmarks/bench_ray.py [--images DIR] [--n 200] [--warm 16] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from salmap import load_model
from salmap.batch.inputs import collect_inputs
from salmap.batch.local import run_items
from salmap.batch.outputs import plan_outputs
from salmap.batch.predict import OutputOptions, PredictJob
from salmap.cli import main as salmap
from salmap.data import NUS_MINI
from salmap.models.io import choose_runner

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "nus-scene" / "stimuli"


def job(paths, out, engine_flags, batch_size) -> float:
    """Seconds for one `salmap predict` over ``paths`` (its own output quietened)."""
    argv = ["predict", *map(str, paths), "--out", str(out), "--batch-size", str(batch_size)]
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        code = salmap(argv + list(engine_flags))
    if code != 0:
        raise SystemExit(f"salmap predict {' '.join(engine_flags)} failed with status {code}")
    return time.perf_counter() - t


def time_engine(name, paths, warm, flags, batch_size, work) -> None:
    t_warm = job(paths[:warm], Path(tempfile.mkdtemp(dir=work)), flags, batch_size)
    t_all = job(paths, Path(tempfile.mkdtemp(dir=work)), flags, batch_size)
    n = len(paths)
    steady = (n - warm) / max(t_all - t_warm, 1e-9)
    print(f"| {name:<28} | {n / t_all:8.2f} | {steady:8.2f} | {t_all:7.1f} |", flush=True)


class ConstantRunner:
    """A stand-in model that costs nothing: isolates the CPU work around the model."""

    def __init__(self, config):
        self.config = config

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.ones((batch.shape[0], *batch.shape[2:]), np.float32)


def time_cpu_side(items, batch_size, work) -> None:
    out = Path(tempfile.mkdtemp(dir=work))
    runner = ConstantRunner(load_model("default").config)
    args = SimpleNamespace(
        batch_size=batch_size,
        background_rgb=(255, 255, 255),
        max_output_side=None,
        all_frames=False,
    )
    plans = plan_outputs(items, out, ["map", "overlay"])
    t = time.perf_counter()
    lines = {}
    job = PredictJob(items, plans, out, OutputOptions(), args)
    run_items(job, runner, batch_size, lines, progress=False)
    rate = len(lines) / (time.perf_counter() - t)
    print(f"| {'CPU side only, no model':<28} | {rate:8.2f} | {rate:8.2f} |         |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", default=str(SHARED if SHARED.is_dir() else NUS_MINI / "images"))
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--warm", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args()
    items = collect_inputs([args.images]).items[: args.n]
    paths = [item.path for item in items]

    import ray

    t = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    started = time.perf_counter() - t
    print(
        f"{len(paths)} images from {args.images}, default model (runner "
        f"{choose_runner('default')}), batch {args.batch_size}; {os.cpu_count()} CPU cores; "
        f"Ray {ray.__version__} started in {started:.1f} s\n"
    )
    print("| engine                       | images/s end to end | steady images/s | seconds |")
    print("|---|---:|---:|---:|")
    work = Path(tempfile.mkdtemp())
    try:
        time_engine("local", paths, args.warm, [], args.batch_size, work)
        for actors in (1, 2):
            flags = ["--engine", "ray", "--actors", str(actors)]
            time_engine(f"ray, {actors} actor(s)", paths, args.warm, flags, args.batch_size, work)
        time_cpu_side(items, args.batch_size, work)
    finally:
        shutil.rmtree(work)
        ray.shutdown()


if __name__ == "__main__":
    main()
