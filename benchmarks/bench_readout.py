"""The frozen-encoder training path's pieces, old against new, in one run (CPU):

- the readout: upsample every level to stride 8 and concatenate, then the 1x1 convolutions (the
  definition, as before), against convolving each level first and upsampling the narrow result
  (salmap's ReadoutDecoder now), forward and forward + backward, per image;
- the training SSIM: torchmetrics' 2-D window against salmap's two depthwise 1-D passes;
- the frozen encoder's features: eager PyTorch against onnxruntime (an in-memory export), both
  on every core.

    nice python benchmarks/bench_readout.py [--threads 1] [--batch 8]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from salmap.models.decoders import ReadoutDecoder
from salmap.models.model import SaliencyModel
from salmap.train import load_config
from salmap.train.features import encoder_levels


def per_image_ms(fn, batch: int, reps: int = 5) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps / batch * 1000


def concatenate_first(dec: ReadoutDecoder, feats):
    up = [feats[0]] + [
        F.interpolate(f, size=feats[0].shape[-2:], mode="bilinear", align_corners=False)
        for f in feats[1:]
    ]
    return dec.readout(torch.cat(up, dim=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = args.batch
    dec = ReadoutDecoder([16, 24, 40, 112, 320], [2, 4, 8, 16, 32], (16, 32, 2), 0.1).train()
    feats = [torch.randn(b, 40, 64, 64), torch.randn(b, 112, 32, 32), torch.randn(b, 320, 16, 16)]

    def step(fn):
        def run():
            fs = [f.clone().requires_grad_() for f in feats]
            fn(fs).sum().backward()

        return run

    print(f"Lite0's levels at 512 px, batch {b}, {args.threads} thread(s); ms per image")
    old = per_image_ms(lambda: concatenate_first(dec, feats), b)
    new = per_image_ms(lambda: dec([None, None, *feats]), b)
    print(
        f"readout forward: concatenate first {old:.1f}, convolve first {new:.1f} ({old / new:.1f}x)"
    )
    old = per_image_ms(step(lambda fs: concatenate_first(dec, fs)), b)
    new = per_image_ms(step(lambda fs: dec([None, None, *fs])), b)
    print(f"readout forward + backward: {old:.1f} vs {new:.1f} ({old / new:.1f}x)")

    from torchmetrics.functional.image import structural_similarity_index_measure as reference

    from salmap.train.loop import ssim

    x, y = torch.rand(b, 1, 512, 512) ** 3, torch.rand(b, 1, 512, 512)
    old = per_image_ms(lambda: reference(x, y, data_range=1.0, reduction="none"), b)
    new = per_image_ms(lambda: ssim(x, y), b)
    print(f"SSIM 512 x 512: torchmetrics {old:.1f}, salmap {new:.1f} ({old / new:.1f}x)")

    # onnxruntime's session uses every core: so does PyTorch here
    torch.set_num_threads(os.cpu_count() or 1)
    cfg = load_config("configs/default.yaml")
    model = SaliencyModel(cfg.model).eval()
    images = np.random.default_rng(0).standard_normal((b, 3, 512, 512)).astype(np.float32)
    torch_levels = encoder_levels(model, "cpu", runner="torch")
    onnx_levels = encoder_levels(model, "cpu", runner="onnx")
    old = per_image_ms(lambda: torch_levels(images), b, reps=2)
    new = per_image_ms(lambda: onnx_levels(images), b, reps=2)
    print(
        f"Lite0 features, {torch.get_num_threads()} threads: PyTorch {old:.0f}, "
        f"onnxruntime {new:.0f} ({old / new:.1f}x)"
    )


if __name__ == "__main__":
    main()
