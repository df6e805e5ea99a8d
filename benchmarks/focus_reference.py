"""The reference table of the design report's focus figure: the concentration (the fraction of
an image, most attended pixels first, that holds half of the predicted attention;
:func:`salmap.regions.concentration`) of the shipped ``default`` model's maps on the BubbleView
design sets (51 GDI graphic designs, 30 MASSVIS charts), as percentiles 0, 5, ..., 100 of each
set and of both together. Written to ``salmap/weights/default.focus.json`` (a few hundred
bytes), which ``salmap design-report`` reads; run again when the default model changes.

    python benchmarks/focus_reference.py ../shared/datasets/bubbleview
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from salmap import load_model
from salmap.data import open_dataset
from salmap.design_report import REFERENCE_FILE, REFERENCE_SETS
from salmap.files import atomic_write_bytes
from salmap.regions import CONCENTRATION_MASS, concentration

STEPS = np.arange(0, 101, 5)


def concentrations(mat: Path, model) -> list[float]:
    data = open_dataset(mat, "bubbleview")
    return [concentration(model.predict(data.records[i].image)) for i in range(len(data))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bubbleview", type=Path, help="the BubbleView folder (its .mat files)")
    ap.add_argument("--out", type=Path, default=REFERENCE_FILE, help="the table (JSON)")
    args = ap.parse_args()
    model = load_model("default")
    start = time.perf_counter()
    values = {
        name: concentrations(args.bubbleview / mat, model)
        for name, (mat, _) in REFERENCE_SETS.items()
    }
    values["all"] = [v for vs in values.values() for v in vs]
    table = {
        "model": "default",
        "measure": f"fraction of the image holding {CONCENTRATION_MASS:.0%} of the attention",
        "percentiles": [int(p) for p in STEPS],
        "sets": {
            name: {"n": len(vs), "values": [round(float(q), 4) for q in np.percentile(vs, STEPS)]}
            for name, vs in values.items()
        },
    }
    atomic_write_bytes(args.out, (json.dumps(table, separators=(",", ":")) + "\n").encode())
    n = len(values["all"])
    print(f"{n} images in {time.perf_counter() - start:.0f} s -> {args.out}")
    for name, vs in values.items():
        print(f"{name:8} n={len(vs):3}  median {np.median(vs):.3f}")


if __name__ == "__main__":
    main()
