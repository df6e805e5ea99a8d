"""End-to-end `salmap predict` speed: decode, model, resize back, write map + overlay.

Runs every variant in one process on the same images, so the figures compare:
eager PyTorch (batch 1 and 8), channels_last, onnxruntime (batch 1 and 8), and CUDA (fp32,
bf16) when a GPU is present.

    python benchmarks/bench_predict.py [--images DIR] [--n 100] [--model default]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from salmap import load_model
from salmap.commands.predict import collect_inputs, plan_outputs, predict_files
from salmap.data import NUS_MINI
from salmap.export import OnnxModel, export_onnx
from salmap.inference import TorchRunner

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "nus-scene" / "stimuli"


def time_variant(name, runner, items, batch_size, out_root) -> float:
    out = Path(tempfile.mkdtemp(dir=out_root))
    args = SimpleNamespace(batch_size=batch_size, bits=8, colormap=None, alpha=0.5)
    plans = plan_outputs(items, out, ["map", "overlay"], overwrite=False)
    predict_files(items[:batch_size], plans[:batch_size], runner, args, progress=False)  # warm-up
    shutil.rmtree(out)
    out.mkdir()
    t = time.perf_counter()
    done, skipped = predict_files(items, plans, runner, args, progress=False)
    rate = done / (time.perf_counter() - t)
    print(f"{name:<38} {rate:7.2f} images/s  ({done} images, batch {batch_size})", flush=True)
    return rate


def gpu_rows(model, items, work) -> None:
    name = torch.cuda.get_device_name()
    time_variant(
        f"PyTorch CUDA fp32 ({name})", TorchRunner(model, "cuda", bf16=False), items, 8, work
    )
    time_variant(
        f"PyTorch CUDA bf16 + channels_last ({name})",
        TorchRunner(model, "cuda", bf16=True, channels_last=True),
        items,
        32,
        work,
    )


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", default=str(SHARED if SHARED.is_dir() else NUS_MINI / "images"))
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--model", default="default")
    p.add_argument("--gpu-only", action="store_true", help="only the CUDA rows")
    args = p.parse_args()
    items, _ = collect_inputs([args.images])
    items = items[: args.n]
    model = load_model(args.model)
    print(
        f"{len(items)} images from {args.images}; model {args.model} "
        f"({model.config.encoder}/{model.config.decoder}, input {model.config.input_size}); "
        f"torch threads {torch.get_num_threads()}"
    )
    work = Path(tempfile.mkdtemp())
    try:
        if args.gpu_only:
            if not torch.cuda.is_available():
                raise SystemExit("--gpu-only: no CUDA device")
            gpu_rows(model, items, work)
            return
        onnx_path = export_onnx(model, work / "model.onnx")
        rates = {}
        rates["eager"] = time_variant(
            "PyTorch eager, CPU, fp32", TorchRunner(model, "cpu"), items, 1, work
        )
        rates["eager8"] = time_variant(
            "PyTorch eager, CPU, fp32", TorchRunner(model, "cpu"), items, 8, work
        )
        rates["cl8"] = time_variant(
            "PyTorch channels_last, CPU, fp32",
            TorchRunner(model, "cpu", channels_last=True),
            items,
            8,
            work,
        )
        onnx = OnnxModel(onnx_path, providers=["CPUExecutionProvider"])
        rates["onnx"] = time_variant("onnxruntime, CPU", onnx, items, 1, work)
        rates["onnx8"] = time_variant("onnxruntime, CPU", onnx, items, 8, work)
        if torch.cuda.is_available():
            gpu_rows(model, items, work)
        best = max(rates, key=rates.get)
        print(f"fastest CPU path: {best}, {rates[best] / rates['eager']:.2f}x eager batch 1")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
