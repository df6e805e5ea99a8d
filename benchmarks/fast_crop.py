"""A fast map for cropping: fixations kept and time per image for smaller model inputs, a
smaller map, JPEG draft decoding and int8, against today's crop path, on validation images.

Each configuration crops every validation image of each data set (salmap's 80/20 split) at
the 8 settings of benchmarks/bench_crop.py (1:1, 16:9, 4:5, 9:16 at zoom 1 and 0.5) and
scores the fraction of the human fixations inside each window (images whose window is the
whole image left out), as bench_crop does. Configurations:

- ``today``: the shipped ONNX export (input 512), the image decoded in full, the map at the
  image's resolution, the windows searched on it (what ``salmap crop`` did);
- ``in S, map M``: the model at input S x S (the same weights, :func:`at_input_size`),
  exported to ONNX; the JPEG decoded by draft only as large as the input needs; the map at a
  longer side of M px; the windows searched on it and placed on the image
  (``best_windows(..., image_size=)``);
- ``... int8``: that export quantized to int8 by onnxruntime's static quantization,
  calibrated on 64 *training* images of NUS-Scene and OSIE (never the scored split);
- ``..., composition centre|thirds``: the same windows framed (``salmap crop
  --composition``, its default tolerance and border);
- with ``--trained RUN ...``: ``in S trained at S (RUN), map 256``, the model of each run that
  trained at that input (``salmap train configs/default.yaml --set 'model.input_size=[256,256]'``
  on the training splits, or a student of benchmarks/distill_fast.py), rather than the shipped
  weights run at a smaller input.

Time per image: from the file's path to the 8 boxes (decode, model, map, search), one thread
(onnxruntime held to 1; run the whole script pinned with ``taskset -c 0``), configurations
interleaved image by image so that a busy machine slows them alike; the writing of crops,
the same for all, is left out here (``benchmarks/bench_crop_speed.sh`` times whole runs).

    nice taskset -c 0 python benchmarks/fast_crop.py --nus ../shared/datasets/nus-scene \\
        --osie ../shared/datasets/osie [--limit N] [--keep-models DIR] [--split train]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_crop import SETTINGS, inside, small_map_boxes  # noqa: E402

from salmap.cropping import best_windows, window_size  # noqa: E402
from salmap.data import open_dataset  # noqa: E402
from salmap.export import OnnxModel, export_onnx, quantize_int8  # noqa: E402
from salmap.inference import read_input, restore  # noqa: E402
from salmap.models.io import at_input_size, load_model  # noqa: E402

ASPECTS = sorted({a for a, _ in SETTINGS})
ZOOMS = sorted({z for _, z in SETTINGS}, reverse=True)
# label: (input side, int8, map's longer side or None for the image's resolution, framing)
CONFIGS = {
    "today": (512, False, None, {}),
    "in 512, map 256": (512, False, 256, {}),
    "in 384, map 256": (384, False, 256, {}),
    "in 256, map 256": (256, False, 256, {}),
    "in 224, map 256": (224, False, 256, {}),
    "in 384, map 256, int8": (384, True, 256, {}),
    "in 256, map 256, int8": (256, True, 256, {}),
    "today, composition centre": (512, False, None, {"composition": "centre"}),
    "today, composition thirds": (512, False, None, {"composition": "thirds"}),
    "in 384, map 256, composition centre": (384, False, 256, {"composition": "centre"}),
}


def calibration_images(datasets: dict, n: int = 64) -> list[Path]:
    """``n`` training images, alternating between the data sets (the validation splits are
    scored here, so they are never calibrated on)."""
    parts = [[r.image for r in d.split("train").records] for d in datasets.values()]
    mixed = [p for pair in zip(*parts) for p in pair]
    return mixed[:: max(1, len(mixed) // n)][:n]


def build_models(folder: Path, datasets: dict, own: dict | None = None) -> dict:
    """label -> the OnnxModel of each configuration, exported into ``folder``; ``own``: label
    -> a model trained at that configuration's input, exported as it is (every time: another
    run's export may lie in a kept folder), rather than the shipped weights at that input."""
    torch_model = load_model("default", runner="torch")
    calibration = calibration_images(datasets)
    models = {}
    for label, (side, int8, _, _) in CONFIGS.items():
        if isinstance((own or {}).get(label), Path):  # an export: scored as it is
            fp32 = own[label]
        elif label in (own or {}):
            fp32 = export_onnx(own[label], folder / f"trained-{len(models)}.onnx")
        else:
            fp32 = folder / f"default-{side}.onnx"
        if not fp32.exists():
            export_onnx(at_input_size(torch_model, side), fp32)
        path = fp32
        if int8:
            path = folder / f"default-{side}-int8.onnx"
            if not path.exists():
                quantize_int8(fp32, path, calibration)
        models[label] = OnnxModel(path, threads=1)
        print(f"{label}: {path.name} ({path.stat().st_size / 1e6:.1f} MB)", flush=True)
    return models


def boxes(model, path: Path, map_side: int | None, framing: dict) -> dict:
    """(aspect, zoom) -> box in the image's pixels, from the file at ``path``; ``framing``:
    best_windows' composition options."""
    if map_side is not None:
        from salmap.data.images import image_size

        height, width = image_size(path)
        return small_map_boxes(model, path, (width, height), SETTINGS, map_side, framing)
    # today's path: the pixels decoded in full, the map at their size
    _, x, g = read_input(path, model.config)
    density = restore(model(x[None])[0], g)
    found = {}
    for zoom in ZOOMS:
        windows = best_windows(density, ASPECTS, zoom, **framing)
        found |= {(a, zoom): w.box for a, w in windows.items()}
    return found


def run(datasets: dict, models: dict, limit: int | None, split: str = "val") -> dict:
    """tag -> label -> {"kept": {setting: [fraction per image]}, "image": [its mean over the
    settings per image], "seconds": [per image]}, on each data set's ``split``."""
    results = {}
    for tag, data in datasets.items():
        val = data.split(split)
        n = len(val) if limit is None else min(limit, len(val))
        per = {c: {"kept": {s: [] for s in SETTINGS}, "image": [], "seconds": []} for c in models}
        for label, model in models.items():  # warm-up, not timed
            boxes(model, val.records[0].image, *CONFIGS[label][2:])
        for i in range(n):
            path = val.records[i].image
            fixations, _, _ = val.fixations_inside(i)
            height, width = val.image_size(i)
            scored = [s for s in SETTINGS if window_size(width, height, *s) != (width, height)]
            for label, model in models.items():
                t = time.perf_counter()
                found = boxes(model, path, *CONFIGS[label][2:])
                per[label]["seconds"].append(time.perf_counter() - t)
                kept = {s: inside(fixations, found[s]) for s in scored}
                for s, k in kept.items():
                    per[label]["kept"][s].append(k)
                per[label]["image"].append(np.mean(list(kept.values())))
            if (i + 1) % 20 == 0 or i + 1 == n:
                print(f"  {tag}: {i + 1}/{n} images", flush=True)
        results[tag] = per
    return results


def report(results: dict) -> None:
    for tag, per in results.items():
        base = per["today"]
        print(f"\n{tag}: fixations kept (mean of 8 settings) and ms per image, one thread")
        print("| configuration | kept | vs today (paired, 95% interval) | ms / image |")
        print("|---|---:|---:|---:|")
        for label, r in per.items():
            kept = np.mean([np.mean(v) for v in r["kept"].values()])
            diffs = np.array(r["image"]) - np.array(base["image"])
            half = 1.96 * diffs.std(ddof=1) / np.sqrt(len(diffs))
            ms = 1000 * np.mean(r["seconds"])
            print(f"| {label} | {kept:.4f} | {diffs.mean():+.4f} +- {half:.4f} | {ms:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nus", required=True, help="NUS-Scene folder")
    ap.add_argument("--osie", required=True, help="OSIE folder")
    ap.add_argument("--limit", type=int, help="only the first N validation images of each")
    ap.add_argument(
        "--split",
        choices=("val", "train"),
        default="val",
        help="the images scored: the validation splits (what the model card reports), or the "
        "training splits, to choose between configurations without looking at the validation "
        "splits (the maps were trained on these images: their figures are optimistic alike)",
    )
    ap.add_argument("--keep-models", type=Path, help="write (and reuse) the exports here")
    ap.add_argument("--only", nargs="+", choices=list(CONFIGS), help="these configurations")
    ap.add_argument(
        "--trained",
        type=Path,
        nargs="+",
        default=[],
        help="runs trained at a smaller input (see above), or their ONNX exports (such as "
        "salmap/weights/default.fast.onnx, the shipped student)",
    )
    args = ap.parse_args()
    for label in set(CONFIGS) - set(args.only or CONFIGS) - {"today"}:
        del CONFIGS[label]  # today is the baseline of every comparison
    own = {}
    for source in args.trained:  # each run's model at its own input
        export = source.suffix == ".onnx"
        folder = source if export else source / "models" / "final"
        model = load_model(str(folder), runner=None if export else "torch")
        side = model.config.input_size[0]
        label = f"in {side} trained at {side} ({source.name}), map 256"
        if label in CONFIGS:
            ap.error(f"two --trained runs named {source.name!r}: rename one")
        CONFIGS[label], own[label] = (side, False, 256, {}), source if export else model
    datasets = {
        f"NUS-Scene {args.split}": open_dataset(args.nus, "nus-scene"),
        f"OSIE {args.split}": open_dataset(args.osie, "osie"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep_models or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        models = build_models(folder, datasets, own)
        report(run(datasets, models, args.limit, args.split))


if __name__ == "__main__":
    main()
