"""Rewrite ONNX exports made before :func:`salmap.export.static_pads` existed (the shipped
``default.onnx`` and ``default.fast.onnx``) with constant pads, in place: the same maps, the
shape arithmetic gone, their metadata (salmap's config and training record) unchanged.

    python scripts/static_pads.py salmap/weights/default.onnx salmap/weights/default.fast.onnx
"""

import argparse
from pathlib import Path

import onnx

from salmap.export import static_pads
from salmap.files import atomic_write_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", type=Path)
    args = ap.parse_args()
    for path in args.paths:
        proto = onnx.load(str(path))
        nodes = len(proto.graph.node)
        n = static_pads(proto)
        onnx.checker.check_model(proto)
        if n:
            atomic_write_bytes(path, proto.SerializeToString())
        print(f"{path}: {n} pads made constant, {nodes} -> {len(proto.graph.node)} nodes")


if __name__ == "__main__":
    main()
