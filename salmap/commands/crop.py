"""``salmap crop INPUT... --out DIR``: crop images to aspect ratios where the predicted attention is.

For each image and aspect ratio: the window of exactly that ratio (the side that limits it is
``--zoom`` times the image's, the other the nearest pixel to the ratio) placed where it holds
the most predicted attention, searched over every position; ties go to the position nearest the
centre. Outputs mirror the input tree under ``--out`` as ``salmap predict``'s do:
``<stem>_crop_<W>x<H>.jpg`` per ratio, ``<stem>_crops.jpg`` (the boxes on the heatmap, with
``--save preview``) and ``DIR/crops.jsonl``, a line per image: ``{"image": path, "width": W,
"height": H, "crops": {"16:9": {"box": [x0, y0, x1, y1], "attention": 0.83}, ...}}`` (boxes in
the image's pixels as shown, EXIF orientation applied, x1 and y1 exclusive; attention is the
share of the predicted attention inside the box), or ``{"image": path, "error": why}`` for a
skipped file. Existing outputs are refused unless ``--overwrite``; unreadable images are
reported and skipped, and the command then exits with status 1.
"""

from __future__ import annotations

import io
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from salmap.errors import DataError, SalmapError

OUTPUTS = ("crop", "preview")
JSONL = "crops.jsonl"
DEFAULT_ASPECTS = "1:1,16:9,4:5,9:16"
JPEG_QUALITY = 92  # as salmap predict's overlays


def add_parser(sub) -> None:
    p = sub.add_parser(
        "crop",
        help="crop images to aspect ratios where the predicted attention is",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--aspect",
        default=DEFAULT_ASPECTS,
        help=f"comma-separated aspect ratios W:H (default: {DEFAULT_ASPECTS})",
    )
    p.add_argument(
        "--zoom",
        type=float,
        default=1.0,
        help="window size as a fraction of the largest window of the ratio that fits, "
        "in (0, 1] (default: 1, the largest)",
    )
    p.add_argument(
        "--model", default="default", help="'default', a model folder, .safetensors or .onnx"
    )
    p.add_argument(
        "--save",
        default="crop",
        help=f"comma-separated outputs: {', '.join(OUTPUTS)} (default: crop); "
        f"{JSONL} is always written",
    )
    p.add_argument(
        "--colormap", default=None, help="matplotlib colormap of the preview (default: inferno)"
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="heatmap opacity of the preview at the most salient point, 0-1 (default: 0.7)",
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when present)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run")
    p.set_defaults(run=run)


def crop_name(stem: Path, size: tuple[int, int]) -> Path:
    """``<stem>_crop_<W>x<H>.jpg``."""
    return stem.with_name(f"{stem.name}_crop_{size[0]}x{size[1]}.jpg")


def preview_name(stem: Path) -> Path:
    return stem.with_name(f"{stem.name}_crops.jpg")


def plan_crops(items, out: Path, aspects, zoom, kinds, overwrite) -> tuple[list, list[str]]:
    """For each readable item, its outputs: ``{"crop": {aspect: path}, "preview": path}`` (the
    crop sizes follow from the image's size, read from its header); ``None`` for an item that
    cannot be read, whose reason is in the second list. Outputs that exist already (and the
    JSONL) are refused unless ``overwrite``, outputs that are inputs always."""
    from salmap.cropping import window_size
    from salmap.data.images import image_size

    plans, unreadable = [], []
    targets = [out / JSONL]
    for path, stem in items:
        try:
            height, width = image_size(path)
        except DataError as e:
            plans.append(None)
            unreadable.append(str(e))
            continue
        plan = {"size": (width, height), "crop": {}, "preview": None}
        if "crop" in kinds:
            for a in aspects:
                plan["crop"][a] = out / crop_name(stem, window_size(width, height, a, zoom))
        if "preview" in kinds:
            plan["preview"] = out / preview_name(stem)
        plans.append(plan)
        targets += [*plan["crop"].values(), *([plan["preview"]] if plan["preview"] else [])]
    inputs = {Path(p).resolve() for p, _ in items}
    clashes = []
    for target in dict.fromkeys(targets):  # two ratios may give the same size, hence file
        if target.resolve() in inputs:
            raise SalmapError(f"{target} is one of the inputs: choose another --out")
        if target.exists() and not overwrite:
            clashes.append(target)
    if clashes:
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise SalmapError(
            f"outputs exist already: {', '.join(map(str, clashes[:3]))}{more}; pass --overwrite to replace them"
        )
    return plans, unreadable


def jpeg(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def write_crops(image, density, windows, plan, args) -> None:
    from salmap.cropping import preview
    from salmap.files import atomic_write_bytes

    for aspect, path in plan["crop"].items():
        x0, y0, x1, y1 = windows[aspect].box
        atomic_write_bytes(path, jpeg(image[y0:y1, x0:x1]))
    if plan["preview"] is not None:
        figure = preview(image, density, windows, args.alpha, args.colormap)
        atomic_write_bytes(plan["preview"], jpeg(figure))


def check_options(args) -> tuple[list[str], list[str]]:
    """The aspect ratios and the outputs asked for, checked before any model loads."""
    from salmap.cropping import check_zoom, parse_aspects

    aspects = list(dict.fromkeys(parse_aspects(args.aspect)))
    check_zoom(args.zoom)
    kinds = [k.strip() for k in args.save.split(",") if k.strip()]
    bad = [k for k in kinds if k not in OUTPUTS]
    if bad:
        raise SalmapError(f"--save takes {', '.join(OUTPUTS)}; got {args.save!r}")
    if args.alpha is not None and not 0.0 <= args.alpha <= 1.0:
        raise SalmapError("--alpha must be between 0 and 1")
    if args.batch_size < 1:
        raise SalmapError("--batch-size must be at least 1")
    return aspects, kinds


def run(args) -> int:
    from salmap import load_model
    from salmap.commands.predict import collect_inputs
    from salmap.files import atomic_write_bytes
    from salmap.inference import TorchRunner

    aspects, kinds = check_options(args)
    items, skipped = collect_inputs(args.inputs)
    out = Path(args.out)
    plans, unreadable = plan_crops(items, out, aspects, args.zoom, kinds, args.overwrite)
    model = load_model(args.model)
    runner = model if hasattr(model, "session") else TorchRunner(model, args.device)
    lines = crop_files(items, plans, unreadable, runner, aspects, args)
    atomic_write_bytes(out / JSONL, "".join(json.dumps(line) + "\n" for line in lines).encode())
    failed = [line["error"] for line in lines if "error" in line]
    skipped += failed
    print(f"{len(lines) - len(failed)} image(s) cropped, {len(skipped)} skipped; outputs in {out}")
    for reason in skipped:
        print(f"  skipped: {reason}", file=sys.stderr)
    return 1 if skipped else 0


def crop_files(items, plans, unreadable, runner, aspects, args, progress=True) -> list[dict]:
    """Predict, search and write every item whose plan is not ``None``; the JSONL lines of all
    items in their order (``unreadable`` gives the reasons of the ``None`` plans, in order)."""
    from tqdm import tqdm

    from salmap.cropping import best_window
    from salmap.inference import predict_stream

    reasons = iter(unreadable)
    lines = [
        None if plan else {"image": str(path), "error": next(reasons)}
        for (path, _), plan in zip(items, plans)
    ]
    todo = [i for i, plan in enumerate(plans) if plan]
    writes = []
    with (
        ThreadPoolExecutor(2) as pool,
        tqdm(total=len(todo), desc="cropping", unit="img", disable=not progress) as bar,
    ):
        results = predict_stream(runner, [items[i][0] for i in todo], args.batch_size, pool)
        for i, (image, result) in zip(todo, results):
            path = items[i][0]
            if isinstance(result, Exception):
                message = str(result)
                error = message if str(path) in message else f"{path}: {message}"
                lines[i] = {"image": str(path), "error": error}
            else:
                windows = {a: best_window(result, a, args.zoom) for a in aspects}
                writes.append(pool.submit(write_crops, image, result, windows, plans[i], args))
                if len(writes) > 2 * args.batch_size:  # bound the images held in memory
                    writes.pop(0).result()
                height, width = result.shape
                lines[i] = {
                    "image": str(path),
                    "width": width,
                    "height": height,
                    "crops": {a: w.to_dict() for a, w in windows.items()},
                }
            bar.update(1)
        for w in writes:
            w.result()
    return lines
