"""``salmap crop INPUT... --out DIR``: crop images to aspect ratios where the predicted attention is.

For each image and aspect ratio: the window of exactly that ratio (the side that limits it is
``--zoom`` times the image's, the other the nearest pixel to the ratio) placed where it holds
the most predicted attention, searched over every position; ties go to the position nearest the
centre. With ``--size WxH`` the window has that size's ratio and the crop is resized to it.
Outputs mirror the input tree under ``--out`` as ``salmap predict``'s do:
``<stem>_crop_<W>x<H>.jpg`` per ratio (``--format`` png or webp for other files), ``<stem>_crops.jpg`` (the boxes on the heatmap, with
``--save preview``) and ``DIR/crops.jsonl``, a line per image: ``{"image": path, "width": W,
"height": H, "crops": {"16:9": {"box": [x0, y0, x1, y1], "attention": 0.83, "zoom": 1.0, ...}, ...}}`` (boxes in
the image's pixels as shown, EXIF orientation applied, x1 and y1 exclusive; attention is the
share of the predicted attention inside the box), or ``{"image": path, "error": why}`` for a
skipped file. Existing outputs are refused unless ``--overwrite``; unreadable images are
reported and skipped, and the command then exits with status 1.
"""

from __future__ import annotations

import sys

from salmap.batch.crop import crop_inputs
from salmap.batch.manifest import JSONL
from salmap.commands import (
    add_engine_arguments,
    add_model_arguments,
    check_alpha,
    check_engine_arguments,
    save_kinds,
)
from salmap.cropping import DEFAULT_ASPECTS
from salmap.errors import SalmapError

OUTPUTS = ("crop", "preview")


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
        default=None,
        help=f"comma-separated aspect ratios W:H (default: {DEFAULT_ASPECTS}, or those of --size)",
    )
    p.add_argument(
        "--zoom",
        type=float,
        default=1.0,
        help="window size as a fraction of the largest window of the ratio that fits, "
        "in (0, 1] (default: 1, the largest)",
    )
    _framing_arguments(p.add_argument_group("framing (see salmap.cropping.best_window)"))
    _file_arguments(p.add_argument_group("the crops' files"))
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
    p.add_argument(
        "--map",
        choices=("fast", "full"),
        default="fast",
        help="fast: the map at a longer side of 256 px, from the shipped default's fast "
        "export where it is the model (see MODEL_CARD.md, 'A fast map for cropping'); full: "
        "the model's own input and the map at the image's resolution (default: fast)",
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when present)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run")
    add_engine_arguments(p)
    p.set_defaults(run=run)


def _framing_arguments(g) -> None:
    from salmap.cropping import BORDER, COMPOSITIONS, TOLERANCE

    g.add_argument(
        "--composition",
        choices=("none", *COMPOSITIONS),
        default="none",
        help="none: the window holding the most attention (default); centre: among the "
        "windows within --tolerance of it, the one whose attention is best centred, and "
        "whose edges cut the least attention; thirds: the same, its attention on a third",
    )
    g.add_argument(
        "--tolerance",
        type=float,
        default=TOLERANCE,
        help="with a composition: how much less attention (a fraction of the best window's) a "
        f"better framed window may hold (default: {TOLERANCE})",
    )
    g.add_argument(
        "--border",
        type=float,
        default=BORDER,
        help="with a composition: the weight of the attention a window's edges cut, so that a "
        f"face or a line of text is kept whole or left out whole; 0: off (default: {BORDER})",
    )
    g.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="X0,Y0,X1,Y1",
        help="a box in the image's pixels (x1, y1 exclusive) that every crop must hold; "
        "repeatable; an image where no window of the ratio and zoom holds it is skipped with "
        "the reason",
    )
    g.add_argument(
        "--keep-faces",
        action="store_true",
        help="detect frontal faces (OpenCV's Haar cascade: pip install 'salmap[faces]'; large "
        "faces, not a crowd's) and keep each crop's faces whole: every face, or where a window "
        "cannot hold them all, the largest that fit together; crops.jsonl lists them",
    )


def _file_arguments(g) -> None:
    from salmap.batch.outputs import CROP_FORMATS
    from salmap.viz import JPEG_QUALITY

    g.add_argument(
        "--size",
        action="append",
        default=[],
        metavar="WxH",
        help="resize each crop to exactly W x H pixels, its window having that ratio (as "
        "sharp's resize(w, h, {position: attention})); repeatable, one crop per size; "
        "replaces --aspect; a window smaller than the size is enlarged",
    )
    g.add_argument(
        "--format",
        choices=tuple(CROP_FORMATS),
        default="jpg",
        help="the crops' file format (default: jpg; the preview is always JPEG)",
    )
    g.add_argument(
        "--quality",
        type=int,
        default=None,
        help=f"JPEG or WEBP quality of the crops, 1-100 (default: {JPEG_QUALITY})",
    )


def aspects_and_shape(args) -> tuple[list[str], object]:
    """The aspect ratios to crop to and the crops' CropShape, from --aspect, --size, --format
    and --quality, checked (a SalmapError naming the flag)."""
    from salmap.batch.outputs import CropShape
    from salmap.cropping import parse_aspects
    from salmap.sizing import parse_size

    if args.size and args.aspect is not None:
        raise SalmapError("--size and --aspect: give one (a size sets its crop's aspect ratio)")
    if args.quality is not None and not (1 <= args.quality <= 100 and args.format != "png"):
        raise SalmapError(
            f"--quality {args.quality}: expected 1-100, with --format jpg or webp (PNG is lossless)"
        )
    sizes = {}
    for text in args.size:
        w, h = parse_size(text)
        sizes[f"{w}:{h}"] = (w, h)
    aspects = list(sizes) or parse_aspects(args.aspect or DEFAULT_ASPECTS)
    return list(dict.fromkeys(aspects)), CropShape(args.format, args.quality, sizes)


def framing(args) -> dict:
    """best_window's options from the arguments, checked (a SalmapError naming the flag)."""
    from salmap.cropping import check_composition

    composition = None if args.composition == "none" else args.composition
    try:
        check_composition(composition, args.tolerance, args.border)
    except SalmapError as e:
        raise SalmapError(
            f"{e} (--composition centre or thirds with --tolerance/--border)"
        ) from None
    boxes = []
    for text in args.keep:
        try:
            x0, y0, x1, y1 = (float(v) for v in text.split(","))
        except ValueError:
            raise SalmapError(
                f"--keep {text!r}: expected X0,Y0,X1,Y1 in the image's pixels"
            ) from None
        if not (x1 > x0 >= 0 and y1 > y0 >= 0):
            raise SalmapError(f"--keep {text!r}: expected 0 <= X0 < X1 and 0 <= Y0 < Y1")
        boxes.append((x0, y0, x1, y1))
    options = {"keep": boxes}
    if composition is not None:
        options |= {"composition": composition, "tolerance": args.tolerance}
        options["border"] = args.border
    return options


def check_options(args) -> tuple[list[str], list[str]]:
    """The aspect ratios and the outputs asked for, checked before any model loads."""
    from salmap.cropping import check_zoom
    from salmap.inference import check_device
    from salmap.models.io import choose_runner

    aspects, args.shape = aspects_and_shape(args)
    check_zoom(args.zoom)
    args.framing = framing(args)
    if getattr(args, "keep_faces", False):
        from salmap.faces import face_cascade

        face_cascade()  # OpenCV and its cascade present, before any model loads
    kinds = save_kinds(args.save, OUTPUTS, at_least_one=False)
    check_alpha(args.alpha)
    if args.map == "fast":
        from salmap.cropping import FAST_MAP_SIDE
        from salmap.models.io import fast_model

        args.map_side, args.model = FAST_MAP_SIDE, fast_model(args.model, args.runner)
    args.runner = choose_runner(args.model, args.runner)
    check_device(args.device, args.runner)
    return aspects, kinds


def run(args) -> int:
    aspects, kinds = check_options(args)
    check_engine_arguments(args)
    summary = crop_inputs(args, aspects, kinds)
    note = f" ({summary.kept} kept from an earlier run)" if summary.kept else ""
    print(
        f"{summary.done} image(s) cropped{note}, {len(summary.skipped)} skipped"
        + (f"; files ignored: {summary.ignored}" if summary.ignored else "")
        + f"; outputs in {args.out}"
    )
    for reason in summary.skipped:
        print(f"  skipped: {reason}", file=sys.stderr)
    return 1 if summary.skipped else 0
