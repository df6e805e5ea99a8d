"""A student for the fast map: the shipped ``default`` model at a smaller input, fine-tuned
(encoder included) to give the maps the shipped model gives at its own 512 input.

The teacher is ``default`` at 512, today's crop path (``--teacher``: another model's name
or file, such as the export of ``accurate``, which onnxruntime runs 4 times faster than
PyTorch). For every *training* image of NUS-Scene, OSIE and EyeCrowd (400 + 560 + 400; the
validation splits, which benchmarks/fast_crop.py scores, are never seen), its map is computed
once and averaged down to the student's output size. The student starts from ``default``'s
weights at input ``--side`` and is trained to minimise KL(teacher || student) over each map's
pixels, with horizontal flips, the encoder's batch-norm statistics held. No human fixation is
used: the student learns to see at a smaller size what the teacher sees at its own. Its
recipe records its images, with those its weights and its teacher were trained on.

Each student is saved as a run folder (``OUT/distilled-SIDE/models/final``) that
``benchmarks/fast_crop.py --trained`` scores beside the fast map of today:

    nice python benchmarks/distill_fast.py --nus ../shared/datasets/nus-scene \\
        --osie ../shared/datasets/osie --eyecrowd ../shared/datasets/eyecrowd \\
        --side 224 --out /tmp/distill
    nice taskset -c 0 python benchmarks/fast_crop.py --nus ... --osie ... \\
        --only "in 384, map 256" --trained /tmp/distill/distilled-224
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from salmap import leakage
from salmap.data import open_dataset
from salmap.inference import make_runner, read_input
from salmap.losses import kld  # KL(teacher's map || the softmax of the student's logits)
from salmap.models.io import at_input_size, load_model, model_label


def training_parts(args) -> list:
    """The training split of each data set given (salmap's 80/20 split, as fast_crop's)."""
    sets = {"nus-scene": args.nus, "osie": args.osie, "eyecrowd": args.eyecrowd}
    return [open_dataset(folder, fmt).split("train") for fmt, folder in sets.items() if folder]


def training_record(parts: list, inherited: list) -> dict:
    """What the student learnt from, in its recipe: the data sets and the images' hashes
    (:mod:`salmap.leakage`, which `salmap evaluate` checks the images it scores against),
    with those of the ``inherited`` models' records (the weights it starts from, its teacher)."""
    others = [e for model in inherited for e in leakage.entries(leakage.recipe_with_record(model))]
    record = leakage.merged(leakage.record(parts), others)
    return {"data": {p.format: len(p) for p in parts}, leakage.KEY: record}


def teacher_maps(teacher, paths: list[Path], sides: list[int]) -> dict[int, torch.Tensor]:
    """side -> N x side x side: the teacher's map of each image at its own input (``teacher``:
    a loaded model, PyTorch or ONNX), averaged down to each student's output size (the same
    padded square frame, so the pixels line up)."""
    runner = make_runner(teacher, "cpu")
    maps: dict[int, list] = {side: [] for side in sides}
    for start in range(0, len(paths), 8):
        batch = paths[start : start + 8]
        x = np.stack([read_input(p, teacher.config, keep_pixels=False)[1] for p in batch])
        p = torch.from_numpy(runner(x))[:, None].float()
        for side in sides:
            small = F.interpolate(p, size=(side, side), mode="area")
            maps[side].append((small / small.sum(dim=(2, 3), keepdim=True))[:, 0])
    return {side: torch.cat(m) for side, m in maps.items()}


def student_inputs(student, paths: list[Path]) -> torch.Tensor:
    return torch.from_numpy(
        np.stack([read_input(p, student.config, keep_pixels=False)[1] for p in paths])
    ).half()


def train(student, x: torch.Tensor, target: torch.Tensor, args) -> list[float]:
    groups = student.parameter_groups()
    opt = torch.optim.AdamW(
        [
            {"params": groups["encoder"], "lr": args.encoder_lr},
            {"params": groups["decoder"], "lr": args.lr},
        ],
        weight_decay=1e-4,
    )
    steps = args.epochs * math.ceil(len(x) / args.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    generator = torch.Generator().manual_seed(0)
    losses = []
    for epoch in range(args.epochs):
        student.train()
        student.encoder.eval()  # batch-norm statistics held: batches of 8 are too small
        order = torch.randperm(len(x), generator=generator)
        total, t0 = 0.0, time.time()
        for start in range(0, len(x), args.batch):
            idx = order[start : start + args.batch]
            xb, tb = x[idx].float(), target[idx]
            flip = torch.rand(len(idx), generator=generator) < 0.5
            xb[flip], tb[flip] = xb[flip].flip(-1), tb[flip].flip(-1)
            loss = kld(student(xb), tb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
        print(
            f"  epoch {epoch + 1}: KL {losses[-1]:.4f} nats ({time.time() - t0:.0f} s)", flush=True
        )
    return losses


@torch.inference_mode()
def mean_kld(model, x: torch.Tensor, target: torch.Tensor) -> float:
    model.eval()
    return float(
        np.mean(
            [
                kld(model(x[i : i + 16].float()), target[i : i + 16]).item()
                for i in range(0, len(x), 16)
            ]
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nus", required=True, help="NUS-Scene folder")
    ap.add_argument("--osie", required=True, help="OSIE folder")
    ap.add_argument("--eyecrowd", help="EyeCrowd folder (MIT licence: may train what ships)")
    ap.add_argument(
        "--teacher", default="default", help="the model whose maps at 512 are learnt (default)"
    )
    ap.add_argument("--side", type=int, nargs="+", default=[224], help="student input sides")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3, help="readout and head")
    ap.add_argument("--encoder-lr", type=float, default=1e-4)
    ap.add_argument("--limit", type=int, help="only the first N training images (a trial)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    parts = training_parts(args)
    paths = [r.image for part in parts for r in part.records][: args.limit]
    t0 = time.time()
    teacher = load_model(args.teacher)
    targets = teacher_maps(teacher, paths, args.side)
    print(
        f"{len(paths)} training images; teacher ({args.teacher}) maps in {time.time() - t0:.0f} s",
        flush=True,
    )
    default = load_model("default", runner="torch")
    for side in args.side:
        t0 = time.time()
        student = at_input_size(default, side)  # every student starts from default's weights
        x, target = student_inputs(student, paths), targets[side]
        before = mean_kld(student, x, target)
        print(
            f"side {side}: inputs in {time.time() - t0:.0f} s; KL before {before:.4f} nats",
            flush=True,
        )
        losses = train(student, x, target, args)
        after = mean_kld(student, x, target)  # as "before": no dropout, no flips
        print(f"side {side}: KL after {after:.4f} nats", flush=True)
        recipe = {
            "distilled_from": f"{model_label(args.teacher)} at its own input",
            "images": len(paths),
            **training_record(parts, [default, teacher]),
            "epochs": args.epochs,
            "lr": args.lr,
            "encoder_lr": args.encoder_lr,
            "kl_before": before,
            "kl_after": after,
            "kl_per_epoch": losses,  # the training loss: dropout and flips on
        }
        folder = student.eval().save(
            args.out / f"distilled-{side}" / "models" / "final", training=recipe
        )
        print(f"side {side}: {folder} in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
