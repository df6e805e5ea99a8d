"""Saliency-aware cropping against the tools people use today, on real human fixations.

For each image of a data set's validation split (salmap's 80/20 split; NUS-Scene unless
``--data`` names another with fixations, such as OSIE) and each aspect ratio
(1:1, 16:9, 4:5, 9:16) and zoom (1.0, 0.5), every method places a window of the same size
(:func:`salmap.cropping.window_size`); the score is the fraction of the image's human fixations
that fall inside it, averaged over the images whose window is smaller than the image. Methods,
all run in this one process on the same decoded images:

- ``centre``: the centred window;
- ``smartcrop``: PyPI ``smartcrop`` (the algorithm of smartcrop.js), asked for a thumbnail of
  the ratio (longer side 256 px, so it prescales as it is meant to be used) at exactly this zoom
  (``min_scale = max_scale = zoom``); our window is centred on its crop;
- ``vips-attention`` / ``vips-entropy``: libvips' ``smartcrop`` (what sharp's ``attention`` and
  ``entropy`` strategies call) for the exact window size, on the full image;
- ``cv-spectral`` / ``cv-finegrained``: OpenCV's static saliency maps (spectral residual,
  fine-grained) with salmap's exact window search (:func:`salmap.best_window`);
- ``salmap NAME``: each salmap model given (``--model``, repeatable; default: the shipped
  ``default``) with the same search, the map at the image's resolution (``salmap crop --map
  full``);
- ``salmap fast``: what ``salmap crop`` does by default (``--map fast``): the shipped fast
  export (a student of ``default`` at a 224 input), the map at a longer side of 256 px, each window searched
  on it and placed on the image; ``salmap fast, composition centre`` (``thirds``): the same
  with ``--composition centre`` (``thirds``), its default tolerance and border;
- ``oracle``: the same search on the human fixations themselves (the upper bound).

Time per image is the time to produce the eight boxes from the decoded image (the map, when
there is one, computed once), with every library held to ``--threads`` CPU threads (default 1:
on a shared machine, several threads per library measure the contention more than the method).

    pip install -e .[bench]
    nice python benchmarks/bench_crop.py [--data ../shared/datasets/nus-scene] [--limit N]
        [--model default --model accurate] [--save-maps DIR]   # also write the OpenCV maps as DIR/<method>/<id>.npy
"""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

import numpy as np

from salmap import best_window, load_model
from salmap.cropping import window_size
from salmap.data import open_dataset

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "nus-scene"
ASPECTS = ("1:1", "16:9", "4:5", "9:16")
ZOOMS = (1.0, 0.5)
SETTINGS = [(a, z) for z in ZOOMS for a in ASPECTS]
SMARTCROP_SIDE = 256  # longer side of the thumbnail smartcrop is asked for


def centred_box(cx: float, cy: float, w: int, h: int, width: int, height: int) -> tuple:
    """The w x h box centred as near (cx, cy) as the image allows."""
    x0 = int(np.clip(round(cx - w / 2), 0, width - w))
    y0 = int(np.clip(round(cy - h / 2), 0, height - h))
    return (x0, y0, x0 + w, y0 + h)


def map_method(saliency):
    """A method from a saliency function (H x W x 3 uint8 -> H x W map): one map per image,
    then the exact window search per setting."""

    def boxes(rgb, sizes):
        m = saliency(rgb)
        boxes.last = m  # kept for --save-maps
        return {s: best_window(m, *s).box for s in sizes}

    return boxes


def centre(rgb, sizes):
    height, width = rgb.shape[:2]
    return {s: centred_box(width / 2, height / 2, *sizes[s], width, height) for s in sizes}


def smartcrop_method():
    import smartcrop
    from PIL import Image

    cropper = smartcrop.SmartCrop()

    def boxes(rgb, sizes):
        height, width = rgb.shape[:2]
        image = Image.fromarray(rgb)
        out = {}
        for (aspect, zoom), (w, h) in sizes.items():
            k = min(1.0, SMARTCROP_SIDE / max(w, h))
            tw, th = max(1, round(w * k)), max(1, round(h * k))
            c = cropper.crop(image, tw, th, max_scale=zoom, min_scale=zoom, num_scale_steps=1)[
                "top_crop"
            ]
            cx, cy = c["x"] + c["width"] / 2, c["y"] + c["height"] / 2
            out[aspect, zoom] = centred_box(cx, cy, w, h, width, height)
        return out

    return boxes


def vips_method(interesting: str):
    import pyvips

    def boxes(rgb, sizes):
        image = pyvips.Image.new_from_array(rgb).copy(interpretation="srgb")
        out = {}
        for s, (w, h) in sizes.items():
            crop = image.smartcrop(w, h, interesting=interesting)
            x0, y0 = -crop.xoffset, -crop.yoffset  # extract_area records where it cut
            out[s] = (x0, y0, x0 + w, y0 + h)
        boxes.last = (image, out)
        return out

    return boxes


def opencv_saliency(kind: str):
    import cv2

    make = {
        "spectral": cv2.saliency.StaticSaliencySpectralResidual_create,
        "finegrained": cv2.saliency.StaticSaliencyFineGrained_create,
    }[kind]

    def saliency(rgb):
        ok, m = make().computeSaliency(np.ascontiguousarray(rgb[..., ::-1]))
        if not ok:
            raise RuntimeError(f"OpenCV {kind} saliency failed")
        return np.clip(np.nan_to_num(m.astype(np.float64)), 0, None)

    return saliency


def salmap_saliency(model):
    return lambda rgb: model.predict(rgb)


def small_map_boxes(model, image, image_size, settings, map_side: int, framing: dict) -> dict:
    """(aspect, zoom) -> box for each of ``settings``, as ``salmap crop --map fast`` finds it:
    ``model``'s map of ``image`` (a path or an RGB array of ``image_size`` = (width, height))
    at a longer side of ``map_side``, each window searched on it (``framing``: best_windows'
    composition options) and placed on the image."""
    from salmap.cropping import best_windows
    from salmap.inference import read_input, restore

    _, x, g = read_input(image, model.config, max_output_side=map_side, keep_pixels=False)
    density = restore(model(x[None])[0], g)
    out = {}
    for zoom in sorted({z for _, z in settings}, reverse=True):
        aspects = [a for a, z in settings if z == zoom]
        found = best_windows(density, aspects, zoom, image_size=image_size, **framing)
        out |= {(a, zoom): w.box for a, w in found.items()}
    return out


def fast_method(model, framing: dict):
    """``salmap crop``'s default, the fast map (:func:`small_map_boxes` at FAST_MAP_SIDE)."""
    from salmap.cropping import FAST_MAP_SIDE

    def boxes(rgb, sizes):
        size = (rgb.shape[1], rgb.shape[0])
        return small_map_boxes(model, rgb, size, sizes, FAST_MAP_SIDE, framing)

    return boxes


def fixation_counts(fixations: np.ndarray, shape) -> np.ndarray:
    counts = np.zeros(shape, dtype=np.float64)
    cols = np.clip(np.floor(fixations[:, 0]).astype(int), 0, shape[1] - 1)
    rows = np.clip(np.floor(fixations[:, 1]).astype(int), 0, shape[0] - 1)
    np.add.at(counts, (rows, cols), 1.0)
    return counts


def inside(fixations: np.ndarray, box) -> float:
    x0, y0, x1, y1 = box
    x, y = fixations[:, 0], fixations[:, 1]
    return float(((x >= x0) & (x < x1) & (y >= y0) & (y < y1)).mean())


def check_vips(method, rgb) -> None:
    """libvips' crops are the image's own pixels at the box we read back from its offsets."""
    image, out = method.last
    for box in out.values():
        x0, y0, x1, y1 = box
        got = image.crop(x0, y0, x1 - x0, y1 - y0).numpy()
        assert np.array_equal(got, rgb[y0:y1, x0:x1]), box


def save_map(folder: Path, name: str, m: np.ndarray) -> None:
    from salmap.files import atomic_write_bytes

    buf = io.BytesIO()
    np.save(buf, m.astype(np.float32))
    atomic_write_bytes(folder / f"{name}.npy", buf.getvalue())


def load_salmap(name: str, threads: int):
    model = load_model(name)
    if hasattr(model, "session"):  # onnxruntime: held to the same threads as the others
        model.use_threads(threads)
    print(f"salmap model {name} on {'onnxruntime' if hasattr(model, 'session') else 'torch'}")
    return model


def run(data: Path, limit: int | None, models: list[str], save_maps: Path | None, threads: int):
    dataset = open_dataset(data).split("val")
    n = len(dataset) if limit is None else min(limit, len(dataset))
    methods = {
        "centre": centre,
        "smartcrop": smartcrop_method(),
        "vips-attention": vips_method("attention"),
        "vips-entropy": vips_method("entropy"),
        "cv-spectral": map_method(opencv_saliency("spectral")),
        "cv-finegrained": map_method(opencv_saliency("finegrained")),
        **{
            f"salmap {name}": map_method(salmap_saliency(load_salmap(name, threads)))
            for name in models
        },
    }
    if "default" in models:
        from salmap.models.io import fast_model

        fast = load_salmap(fast_model("default"), threads)
        methods["salmap fast"] = fast_method(fast, {})
        for composition in ("centre", "thirds"):
            framing = {"composition": composition}
            methods[f"salmap fast, composition {composition}"] = fast_method(fast, framing)
    warm = dataset.sample(0, density=False)["image"]
    for method in methods.values():  # first calls load libraries and models: not timed
        method(warm, {s: window_size(warm.shape[1], warm.shape[0], *s) for s in SETTINGS})
    scores = {m: {s: [] for s in SETTINGS} for m in [*methods, "oracle"]}
    seconds = {m: 0.0 for m in methods}
    for i in range(n):
        sample = dataset.sample(i, density=False)
        rgb, fixations = sample["image"], sample["fixations"]
        height, width = rgb.shape[:2]
        sizes = {s: window_size(width, height, *s) for s in SETTINGS}
        counts = fixation_counts(fixations, (height, width))
        found = {"oracle": {s: best_window(counts, *s).box for s in SETTINGS}}
        for name, method in methods.items():
            t = time.perf_counter()
            found[name] = method(rgb, sizes)
            seconds[name] += time.perf_counter() - t
            if name.startswith("vips"):
                check_vips(method, rgb)
            if save_maps and name.startswith("cv-"):
                folder = save_maps / name
                save_map(folder, sample["id"], method.last)
        for s in SETTINGS:
            if sizes[s] == (width, height):
                continue  # the window is the whole image: nothing to choose
            for name, boxes in found.items():
                x0, y0, x1, y1 = boxes[s]
                assert (x1 - x0, y1 - y0) == sizes[s] and x0 >= 0 and x1 <= width, (name, s)
                assert y0 >= 0 and y1 <= height, (name, s)
                scores[name][s].append(inside(fixations, boxes[s]))
        if (i + 1) % 10 == 0 or i + 1 == n:
            print(f"  {i + 1}/{n} images", flush=True)
    return n, scores, {m: t / n for m, t in seconds.items()}


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def set_threads(n: int) -> None:
    """Hold torch, OpenCV and libvips to ``n`` threads (libvips reads its variable at import)."""
    import cv2
    import torch

    os.environ["VIPS_CONCURRENCY"] = str(n)
    torch.set_num_threads(n)
    cv2.setNumThreads(n)


def report(n: int, scores, per_image: dict) -> str:
    def label(s):
        return f"{s[0]} @{s[1]:g}"

    mean = {
        m: {s: float(np.mean(v)) if v else float("nan") for s, v in d.items()}
        for m, d in scores.items()
    }
    head = "| method | " + " | ".join(label(s) for s in SETTINGS) + " | mean | s/image |"
    lines = [head, "|" + " --- |" + " ---: |" * (len(SETTINGS) + 2)]
    counts = [len(scores["centre"][s]) for s in SETTINGS]
    lines.append("| images scored | " + " | ".join(str(c) for c in counts) + " | | |")
    for m, d in mean.items():
        t = f"{per_image[m]:.3f}" if m in per_image else "-"
        row = " | ".join(f"{d[s]:.3f}" for s in SETTINGS)
        lines.append(f"| {m} | {row} | {np.mean(list(d.values())):.3f} | {t} |")
    ours = [m for m in mean if m.startswith("salmap")]
    gaps = {}
    for m in ours:
        gaps[m] = [
            (mean[m][s] - mean["centre"][s]) / (mean["oracle"][s] - mean["centre"][s])
            for s in SETTINGS
        ]
        lines.append(
            f"| {m}: share of the centre-to-oracle gap | "
            + " | ".join(f"{g:.0%}" for g in gaps[m])
            + f" | {np.mean(gaps[m]):.0%} | |"
        )
    lines.append("")
    lines.append(f"{n} validation images, {torch_threads()} thread(s) per library.")
    rivals = [m for m in mean if m not in ours and m != "oracle"]
    for m in ours:
        wins = [all(mean[m][s] > mean[r][s] for r in rivals) for s in SETTINGS]
        lines.append(
            f"{m} beats every other non-oracle method but salmap's at {sum(wins)} of "
            f"{len(SETTINGS)} settings; mean share of the centre-to-oracle gap "
            f"{np.mean(gaps[m]):.0%}."
        )
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DATA), help="a data set with fixations (NUS-Scene)")
    p.add_argument("--limit", type=int, default=None, help="only the first N validation images")
    p.add_argument(
        "--model", action="append", help="salmap model to use (repeatable; default: default)"
    )
    p.add_argument("--save-maps", type=Path, default=None, help="write the OpenCV maps here")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per library (default 1)")
    args = p.parse_args()
    set_threads(args.threads)
    models = list(dict.fromkeys(args.model or ["default"]))
    n, scores, per_image = run(Path(args.data), args.limit, models, args.save_maps, args.threads)
    print(report(n, scores, per_image))


if __name__ == "__main__":
    main()
