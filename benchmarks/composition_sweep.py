"""What composition costs in fixations kept, per tolerance and border, on the TRAINING splits of
NUS-Scene and OSIE (so that a default chosen from it is not chosen on the validation images
that benchmarks/fast_crop.py reports).

For every training image: the fast map (``salmap crop``'s default: the shipped default's fast
export, the map at 256 px; MODEL_CARD.md's table was made with the export of ``default`` at 384,
before the student at 224, whose distillation saw these training images, replaced it), then the 8 settings of benchmarks/bench_crop.py searched without
composition and with ``--composition centre`` and ``thirds`` at each tolerance and border of
the grid; the score is the fraction of the image's human fixations inside each window (images
whose window is the whole image left out), and the table gives each configuration's mean over
the 8 settings minus the search without composition, with a paired 95% interval over images.

    nice python benchmarks/composition_sweep.py --nus ../shared/datasets/nus-scene \\
        --osie ../shared/datasets/osie [--limit N]

Once a default is chosen, ``--split val --defaults`` scores it, and only it (no composition,
``centre`` and ``thirds`` at salmap's default tolerance and border), on the validation splits.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_crop import SETTINGS, inside  # noqa: E402

from salmap.cropping import BORDER, FAST_MAP_SIDE, TOLERANCE, best_windows, window_size  # noqa: E402
from salmap.data import open_dataset  # noqa: E402
from salmap.inference import read_input, restore  # noqa: E402
from salmap.models.io import fast_model, load_model  # noqa: E402

ASPECTS = sorted({a for a, _ in SETTINGS})
ZOOMS = sorted({z for _, z in SETTINGS}, reverse=True)
TOLERANCES = (0.001, 0.002, 0.005, 0.02)
BORDERS = (0.0, 0.1)


def grid(tolerances=TOLERANCES, borders=BORDERS) -> dict:
    """label -> best_windows' options: no composition, then each composition, tolerance and
    border of the grid."""
    return {"none": {}} | {
        f"{c} tol {t} border {b}": {"composition": c, "tolerance": t, "border": b}
        for c, t, b in itertools.product(("centre", "thirds"), tolerances, borders)
    }


CONFIGS = grid()


def kept(model, data, i: int) -> dict:
    """label -> the image's mean fraction of fixations kept over its scored settings."""
    path = data.records[i].image
    _, x, g = read_input(path, model.config, max_output_side=FAST_MAP_SIDE, keep_pixels=False)
    density = restore(model(x[None])[0], g)
    height, width = data.image_size(i)
    fixations, _, _ = data.fixations_inside(i)
    scored = [s for s in SETTINGS if window_size(width, height, *s) != (width, height)]
    out = {}
    for label, options in CONFIGS.items():
        found = {}
        for zoom in ZOOMS:
            w = best_windows(density, ASPECTS, zoom, image_size=(width, height), **options)
            found |= {(a, zoom): v.box for a, v in w.items()}
        out[label] = np.mean([inside(fixations, found[s]) for s in scored])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nus", required=True)
    ap.add_argument("--osie", required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--split", choices=("train", "val"), default="train")
    ap.add_argument(
        "--defaults",
        action="store_true",
        help="only salmap's default tolerance and border (to report the chosen default)",
    )
    args = ap.parse_args()
    if args.defaults:
        CONFIGS.clear()
        CONFIGS.update(grid((TOLERANCE,), (BORDER,)))
    model = load_model(fast_model("default"))
    for tag, path, fmt in (
        (f"NUS-Scene {args.split}", args.nus, "nus-scene"),
        (f"OSIE {args.split}", args.osie, "osie"),
    ):
        data = open_dataset(path, fmt).split(args.split)
        n = len(data) if args.limit is None else min(args.limit, len(data))
        rows = [kept(model, data, i) for i in range(n)]
        base = np.array([r["none"] for r in rows])
        print(f"\n{tag} ({n} images): fixations kept, mean of 8 settings; change vs no composition")
        print("| configuration | kept | change (paired, 95%) |\n|---|---:|---:|")
        for label in CONFIGS:
            v = np.array([r[label] for r in rows])
            d = v - base
            half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
            print(f"| {label} | {v.mean():.4f} | {d.mean():+.4f} +- {half:.4f} |", flush=True)


if __name__ == "__main__":
    main()
