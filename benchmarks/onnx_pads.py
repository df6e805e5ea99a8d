"""What constant pads (:func:`salmap.export.static_pads`) save: each ONNX file given (an export
made before them, e.g. ``git show a4b788f:salmap/weights/default.fast.onnx > old.fast.onnx``)
against its copy with constant pads, the model alone on one thread, the two interleaved run
by run (so that a busy machine slows them alike), with the largest difference between their
maps for batches of 1, 3 and 8 random inputs.

    git show a4b788f:salmap/weights/default.fast.onnx > /tmp/old.fast.onnx
    git show a4b788f:salmap/weights/default.onnx > /tmp/old.onnx
    taskset -c 1 python benchmarks/onnx_pads.py /tmp/old.fast.onnx /tmp/old.onnx [--runs 60]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from salmap.export import static_pads


def session(data: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for path in args.paths:
        proto = onnx.load(str(path))
        nodes = len(proto.graph.node)
        as_given = session(proto.SerializeToString())
        n = static_pads(proto)
        constant = session(proto.SerializeToString())
        image = as_given.get_inputs()[0]
        print(f"{path}: {n} pads made constant, {nodes} -> {len(proto.graph.node)} nodes")
        for batch in (1, 3, 8):
            x = rng.standard_normal((batch, *image.shape[1:])).astype(np.float32)
            a, b = (s.run(None, {image.name: x})[0] for s in (as_given, constant))
            print(f"  batch {batch}: largest difference {np.abs(a - b).max():.3g}")
        x = rng.standard_normal((1, *image.shape[1:])).astype(np.float32)
        times = {"as given": [], "constant pads": []}
        for _ in range(args.rounds):
            for label, s in zip(times, (as_given, constant)):
                for _ in range(3):  # warm
                    s.run(None, {image.name: x})
                start = time.perf_counter()
                for _ in range(args.runs):
                    s.run(None, {image.name: x})
                times[label].append(1000 * (time.perf_counter() - start) / args.runs)
        for label, ms in times.items():
            print(f"  {label:14s} " + " ".join(f"{t:6.2f}" for t in ms) + " ms per image")


if __name__ == "__main__":
    main()
