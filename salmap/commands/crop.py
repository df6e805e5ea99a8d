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
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from salmap.commands import add_model_arguments
from salmap.distributed import add_engine_arguments
from salmap.errors import DataError, SalmapError

OUTPUTS = ("crop", "preview")
JSONL = "crops.jsonl"
DEFAULT_ASPECTS = "1:1,16:9,4:5,9:16"
JPEG_QUALITY = 92  # as salmap predict's overlays


def add_parser(sub) -> None:
    p = sub.add_parser(
        "crop",
        help="crop images to aspect ratios where the predicted attention is",
        description=__doc__.split("\n\n")[1].replace("``", ""),
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
    add_model_arguments(p)
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
    add_engine_arguments(p)
    p.set_defaults(run=run)


def crop_name(stem: Path, size: tuple[int, int]) -> Path:
    """``<stem>_crop_<W>x<H>.jpg``."""
    return stem.with_name(f"{stem.name}_crop_{size[0]}x{size[1]}.jpg")


def preview_name(stem: Path) -> Path:
    return stem.with_name(f"{stem.name}_crops.jpg")


# The names of the files crop_name and preview_name give (for not reading them back as photos).
CROP_FILES = re.compile(r"_crop_\d+x\d+\.jpg$|_crops\.jpg$")


def crop_plan(stem: Path, out: Path, size: tuple[int, int], aspects, zoom, kinds) -> dict:
    """The outputs of one image of ``size`` = (width, height): ``{"size": size, "crop":
    {aspect: path}, "preview": path or None}``."""
    from salmap.cropping import window_size

    width, height = size
    plan = {"size": size, "crop": {}, "preview": None}
    if "crop" in kinds:
        for a in aspects:
            plan["crop"][a] = out / crop_name(stem, window_size(width, height, a, zoom))
    if "preview" in kinds:
        plan["preview"] = out / preview_name(stem)
    return plan


def plan_crops(items, out: Path, aspects, zoom, kinds, overwrite) -> tuple[list, list[str]]:
    """For each readable item, its outputs: ``{"crop": {aspect: path}, "preview": path}`` (the
    crop sizes follow from the image's size, read from its header); ``None`` for an item that
    cannot be read, whose reason is in the second list. Outputs that exist already (and the
    JSONL) are refused unless ``overwrite``, outputs that are inputs always."""
    from salmap.data.images import image_size

    plans, unreadable = [], []
    targets = [out / JSONL]
    for path, stem, _ in items:  # (path, output stem, frame) from collect_inputs
        try:
            height, width = image_size(path)
        except DataError as e:
            plans.append(None)
            unreadable.append(str(e))
            continue
        plan = crop_plan(stem, out, (width, height), aspects, zoom, kinds)
        plans.append(plan)
        targets += [*plan["crop"].values(), *([plan["preview"]] if plan["preview"] else [])]
    inputs = {Path(item.path).resolve() for item in items}
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


def write_crops(image, density, windows, plan, args, write=None) -> None:
    """Write the crops and preview ``plan`` names; ``write(path, data)`` defaults to an atomic
    local write (the Ray engine passes one for any file system)."""
    from salmap.cropping import preview
    from salmap.files import atomic_write_bytes

    write = write or atomic_write_bytes
    for aspect, path in plan["crop"].items():
        x0, y0, x1, y1 = windows[aspect].box
        write(path, jpeg(image[y0:y1, x0:x1]))
    if plan["preview"] is not None:
        figure = preview(image, density, windows, args.alpha, args.colormap)
        write(plan["preview"], jpeg(figure))


def crop_line(path, density: np.ndarray, windows) -> dict:
    """The JSONL line of an image cropped to ``windows`` (aspect -> Window)."""
    height, width = density.shape
    crops = {a: w.to_dict() for a, w in windows.items()}
    return {"image": str(path), "width": width, "height": height, "crops": crops}


def check_options(args) -> tuple[list[str], list[str]]:
    """The aspect ratios and the outputs asked for, checked before any model loads."""
    from salmap.cropping import check_zoom, parse_aspects
    from salmap.inference import check_device
    from salmap.models.io import choose_runner

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
    args.runner = choose_runner(args.model, args.runner)
    check_device(args.device, args.runner)
    return aspects, kinds


def jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def run(args) -> int:
    from salmap import load_model
    from salmap.commands.predict import check_output_folder, collect_inputs
    from salmap.distributed import check_engine_arguments
    from salmap.files import atomic_write_bytes
    from salmap.inference import make_runner

    aspects, kinds = check_options(args)
    check_engine_arguments(args)
    out = Path(args.out)
    found = collect_inputs(args.inputs, exclude=None if "://" in args.out else out)
    items = found.items
    problems = [{"image": i, "error": m} for i, m in found.problems]  # their lines, last
    note = ""
    if args.engine == "ray":
        from salmap.distributed import crop_files_on_ray

        lines, kept = crop_files_on_ray(items, aspects, kinds, args, problems)
        note = f" ({kept} kept from an earlier run)" if kept else ""
    else:
        plans, unreadable = plan_crops(items, out, aspects, args.zoom, kinds, args.overwrite)
        runner = make_runner(load_model(args.model, runner=args.runner), args.device)
        check_output_folder(out)  # after the model loads: a bad --model leaves no folder behind
        lines = crop_files(items, plans, unreadable, runner, aspects, args) + problems
        atomic_write_bytes(out / JSONL, jsonl(lines))
    skipped = [line["error"] for line in lines if "error" in line]
    done = len(lines) - len(skipped)
    ignored = found.ignored_text()
    print(
        f"{done} image(s) cropped{note}, {len(skipped)} skipped"
        + (f"; files ignored: {ignored}" if ignored else "")
        + f"; outputs in {args.out}"
    )
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
        for (path, *_), plan in zip(items, plans)
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
                lines[i] = crop_line(path, result, windows)
            bar.update(1)
        for w in writes:
            w.result()
    return lines
