"""Training speed of the seed recipe at its own batch size (4): the plain fp32 loop against the
fast path, in one run, with the same seed, and whether their loss curves agree.

Each variant is a real ``salmap train`` run (the Trainer, configs/seed.yaml, random init since
ImageNet weights may not be fetchable) on the same data for ``--epochs`` epochs:

- naive: fp32, channels-first, a DataLoader with host-to-device copies, the optimiser's
  per-parameter loop, and a wait for the device at every step (log_every=1);
- fast: bf16 autocast, channels_last, the decoded split held on the device with flips there,
  fused optimiser, losses read every 50 steps (on CUDA, the config's defaults);
- fast + torch.compile(MODE) for each ``--compile MODE``;
- naive with seed 1: the spread between two equally good runs, the scale of "noise" against
  which the fast path's loss curve is compared.

Training images/s are the mean over the epochs after the first (warm-up, autotuning and
compilation happen there). Validation metrics in evaluate's frame are switched off
(eval_every=0) so that the figures are the training step's own.

    python benchmarks/bench_train.py                       # CPU: NUS mini, 128 px
    python benchmarks/bench_train.py --data ../shared/datasets/nus-scene --size 512 \\
        --epochs 4 --compile reduce-overhead --out runs/bench   # a GPU
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from salmap.data import NUS_MINI
from salmap.train import load_config, train
from salmap.train.loop import hardware

# The fast path, spelled out so that a CPU run exercises it too (on CUDA these are the defaults)
FAST = [
    "amp=bf16",
    "channels_last=true",
    "data_on_device=true",
    "fused_optimizer=true",
    "compile=none",
    "log_every=50",
]
NAIVE = [
    "amp=none",
    "channels_last=false",
    "data_on_device=false",
    "fused_optimizer=false",
    "compile=none",
    "log_every=1",
]


def run_variant(name, overrides, args, root: Path) -> dict:
    cfg = load_config(
        "configs/seed.yaml",
        [
            "model.encoder_weights=null",
            f"model.input_size=[{args.size},{args.size}]",
            f"data.path={args.data}",
            f"data.cache_dir={root / 'cache'}",
            f"out={root / name.replace(', ', '-').replace(' ', '')}",
            f"epochs={args.epochs}",
            f"device={args.device}",
            "checkpoint_epochs=[]",
            "eval_every=0",
            f"save_every={args.epochs}",
            "data.workers=2",
            *args.overrides,
            *overrides,
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = train(cfg)
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rates = [float(r["images_per_s"]) for r in rows[1:]] or [float(rows[0]["images_per_s"])]
    return {
        "name": name,
        "overrides": overrides,
        "images_per_s": float(np.mean(rates)),
        "first_epoch_s": float(rows[0]["seconds"]),
        "train_loss": [float(r["train_loss"]) for r in rows],
        "val_loss": [float(r["val_loss"]) for r in rows if r["val_loss"]],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=str(NUS_MINI), help="dataset (default: the bundled mini)")
    p.add_argument("--size", type=int, default=None, help="input side (default 512 GPU, 128 CPU)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--compile", action="append", default=[], metavar="MODE", help="also fast + compile MODE"
    )
    p.add_argument("--out", help="keep the runs and write bench_train.json here")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change the recipe of every variant, e.g. --set model.encoder=tiny",
    )
    args = p.parse_args()
    args.size = args.size or (512 if args.device.startswith("cuda") else 128)
    # naive with another seed: how far two equally good runs drift apart (the noise)
    variants = [("naive", NAIVE), ("naive, seed 1", [*NAIVE, "seed=1"]), ("fast", FAST)]
    variants += [(f"fast+compile-{m}", [*FAST, f"compile={m}"]) for m in args.compile]

    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_train."))
    root.mkdir(parents=True, exist_ok=True)
    where = hardware(torch.device(args.device))
    print(
        f"seed recipe (ResNet-50 random init + seed decoder, SGD 1e-4, BCE, batch 4) at "
        f"{args.size}x{args.size} on {where}, torch {torch.__version__}, data {args.data}, "
        f"{args.epochs} epochs per variant, seed 0; changed: {args.overrides or 'nothing'}",
        flush=True,
    )
    results = []
    for name, overrides in variants:
        r = run_variant(name, overrides, args, root)
        results.append(r)
        print(
            f"  {name:<28} {r['images_per_s']:8.2f} images/s  (first epoch {r['first_epoch_s']:.1f} s)",
            flush=True,
        )
    base = results[0]
    for r in results[2:]:
        print(f"  {r['name']} / naive: {r['images_per_s'] / base['images_per_s']:.2f}x")
    print("per-epoch train loss (and validation loss), same seed:")
    for r in results:
        cells = " ".join(f"{v:.5f}" for v in r["train_loss"])
        val = " ".join(f"{v:.5f}" for v in r["val_loss"])
        print(f"  {r['name']:<28} train {cells} | val {val}")
    for r in results[1:]:
        diff = np.abs(np.array(r["train_loss"]) - base["train_loss"]) / np.array(base["train_loss"])
        print(f"  {r['name']}: largest relative difference from naive {diff.max():.2e}")
    summary = {"hardware": where, "torch": torch.__version__, "size": args.size, "runs": results}
    (root / "bench_train.json").write_text(json.dumps(summary, indent=1))
    print(f"runs and bench_train.json in {root}")


if __name__ == "__main__":
    main()
