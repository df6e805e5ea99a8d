"""Training speed (images/s) of the seed recipe as written and of the fast path, in one run.

The seed as written: ResNet-50 + seed decoder at 512x512, fp32, batch 4, plain SGD, BCE. The
fast path: the same model from the decoded cache with channels_last and a larger batch, plus
bf16 autocast on CUDA (and, for comparison, on CPU). Each variant runs warm-up steps, then is
timed over --steps steps on real images from the cache (no JPEG decoding in the loop).

    python benchmarks/bench_train.py [--steps 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from contextlib import nullcontext

import torch
from torch.utils.data import DataLoader

from salmap.data import NUS_MINI, open_dataset
from salmap.data.cache import build_cache
from salmap.data.transforms import Normalize
from salmap.losses import CombinedLoss
from salmap.models import ModelConfig, SaliencyModel
from salmap.train.loop import CachedSet


def run(device, batch, steps, bf16, channels_last, cache, size) -> float:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SaliencyModel(
            ModelConfig(encoder="resnet50", encoder_weights=None, input_size=(size, size))
        )
    model.to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    loss_fn = CombinedLoss({"bce": 1.0})
    data = CachedSet(cache, Normalize.from_config(model.config), hflip=0.5)
    loader = DataLoader(
        data,
        batch_size=batch,
        shuffle=True,
        num_workers=2,
        drop_last=True,
        persistent_workers=True,
        pin_memory=device.type == "cuda",
    )
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()

    def batches():
        while True:
            yield from loader

    it = batches()

    def step():
        x, target, _ = next(it)
        x, target = x.to(device, non_blocking=True), target.to(device, non_blocking=True)
        if channels_last:
            x = x.to(memory_format=torch.channels_last)
        with amp:
            logits = model(x)
        loss, _ = loss_fn(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--fast-batch",
        type=int,
        default=None,
        help="batch of the fast path (default 8 CPU, 32 GPU)",
    )
    args = p.parse_args()
    device = torch.device(args.device)
    fast_batch = args.fast_batch or (32 if device.type == "cuda" else 8)
    with tempfile.TemporaryDirectory() as tmp:
        cache = build_cache(open_dataset(NUS_MINI), (args.size, args.size), "resize", tmp)
        name = (
            torch.cuda.get_device_name()
            if device.type == "cuda"
            else f"CPU, {torch.get_num_threads()} threads"
        )
        print(f"seed architecture (ResNet-50 + seed decoder) at {args.size}x{args.size} on {name}")
        variants = [
            ("seed as written: fp32, batch 4", dict(batch=4, bf16=False, channels_last=False)),
            (
                f"fast: channels_last, batch {fast_batch}, fp32",
                dict(batch=fast_batch, bf16=False, channels_last=True),
            ),
            (
                f"fast: bf16 + channels_last, batch {fast_batch}",
                dict(batch=fast_batch, bf16=True, channels_last=True),
            ),
        ]
        rates = []
        for label, kw in variants:
            rate = run(device, steps=args.steps, cache=cache, size=args.size, **kw)
            rates.append(rate)
            print(f"  {label:<44} {rate:8.2f} images/s", flush=True)
        print(f"  best fast path / seed as written: {max(rates[1:]) / rates[0]:.2f}x")


if __name__ == "__main__":
    main()
