"""Training epochs with a frozen encoder: the encoder run on every image every epoch, against its
features computed once into the decoded cache (``data.cache_features``), in one run.

The shipped model's recipe (configs/default.yaml: EfficientNet-Lite0, 512 x 512 padded, readout,
batch 8) on the first --images images of NUS-Scene's training split, copied into a folder dataset
in a temporary directory (with their fixations) so that salmap's own Trainer runs unchanged.
For each mode: the set-up (decoded cache, and for the features mode the one-time feature pass
over every image and its mirror image) and --epochs training epochs are timed separately.

    nice python benchmarks/bench_frozen_features.py --data ../shared/datasets/nus-scene \\
        [--images 64] [--epochs 2]

One run (48 images, 2 epochs, 2 threads, on 2 CPU cores shared with 6 other engineers' jobs,
load average about 15): encoder every epoch 208 s an epoch (0.2 images/s); features cached once
219 s of set-up (96 encoder passes: every image and its mirror image), then 90 s an epoch
(0.5 images/s): 2.3x per epoch, the same training losses (0.8475, 0.5432). What remains per
epoch is mostly the training-set SSIM the loop logs every step (about 40% of a features epoch
in a profile) and the readout's backward pass at 512 x 512, not the encoder.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from salmap.data import open_dataset
from salmap.train import load_config
from salmap.train.loop import Trainer


def folder_copy(data: str, n: int, root: Path) -> Path:
    """The first ``n`` training images of ``data`` with their fixations, in salmap's folder
    layout (images/<id>.jpg, fixations/<id>.csv with x, y, subject)."""
    part = open_dataset(data).split("train")
    out = root / "subset"
    (out / "images").mkdir(parents=True)
    (out / "fixations").mkdir()
    for i in range(min(n, len(part))):
        rec = part.records[i]
        shutil.copy(rec.image, out / "images" / rec.image.name)
        fix, subjects, _ = part.fixations_inside(i)
        rows = np.column_stack([fix, subjects])
        np.savetxt(
            out / "fixations" / f"{rec.image.stem}.csv",
            rows,
            delimiter=",",
            header="x,y,subject",
            comments="",
        )
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="a dataset with fixations, e.g. NUS-Scene")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = folder_copy(args.data, args.images, tmp)
        print(
            f"{args.images} images of {args.data} (train split), configs/default.yaml, "
            f"{args.threads} threads, {args.epochs} epochs each"
        )
        print(f"{'mode':28s} {'set-up s':>9s} {'epoch s':>9s} {'img/s':>7s}  train loss per epoch")
        results = {}
        for mode, cached in (("encoder every epoch", False), ("features cached once", True)):
            cfg = load_config(
                "configs/default.yaml",
                [
                    f"data.path={data}",
                    f"data.cache_dir={tmp / 'cache'}",
                    f"data.cache_features={str(cached).lower()}",
                    "data.val_fraction=0",
                    "data.workers=0",
                    f"out={tmp / mode.replace(' ', '_')}",
                ],
            )
            if not cached:  # decode the images once first, so neither mode's set-up pays for it
                Trainer(cfg)
                shutil.rmtree(cfg.out)
            t0 = time.perf_counter()
            trainer = Trainer(cfg)
            setup = time.perf_counter() - t0
            times, losses = [], []
            for epoch in range(args.epochs):
                t0 = time.perf_counter()
                row = trainer.run_epoch("train", epoch)
                times.append(time.perf_counter() - t0)
                losses.append(row["train_loss"])
            epoch_s = float(np.median(times))
            results[mode] = epoch_s
            print(
                f"{mode:28s} {setup:9.1f} {epoch_s:9.1f} {args.images / epoch_s:7.1f}  "
                + " ".join(f"{v:.4f}" for v in losses),
                flush=True,
            )
        a, b = results.values()
        print(f"speed-up per epoch: {a / b:.1f}x")


if __name__ == "__main__":
    main()
