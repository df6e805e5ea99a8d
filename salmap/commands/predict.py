"""``salmap predict INPUT... --out DIR``: saliency maps for any images, batched, on CPU or GPU.

Inputs are files, folders (searched recursively, symlinked folders included) or glob patterns.
Outputs mirror the input tree under ``--out``: for ``photos/a/b.jpg`` given as ``photos``,
``DIR/a/b_map.png``, ``DIR/a/b_overlay.jpg``... and ``DIR/manifest.jsonl`` says, one line per
input, what was written or why not. Every option is checked before the model loads. Existing
outputs are refused unless ``--overwrite`` or ``--skip-existing`` (resume an interrupted run);
inputs are never overwritten, an output folder inside an input folder is not read as input,
and every file is written atomically. Unreadable images are reported and skipped, and the
command exits with status 1 when anything was skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

from salmap.batch.manifest import MANIFEST
from salmap.batch.outputs import NAMINGS, OUTPUTS, check_output_folder
from salmap.batch.predict import DENSITY_DTYPES, OutputOptions, predict_inputs
from salmap.commands import (
    add_engine_arguments,
    add_model_arguments,
    add_page_arguments,
    check_alpha,
    check_engine_arguments,
    check_page_arguments,
    save_kinds,
)
from salmap.errors import SalmapError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="saliency maps for images, files or folders",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders, glob patterns or http(s) URLs of pages (captured into --out)",
    )
    add_model_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    _add_output_arguments(p)
    _add_drawing_arguments(p)
    _add_reading_arguments(p)
    p.add_argument(
        "--fast",
        action="store_true",
        help="the shipped default's fast export (a student of default at a 224 x 224 input "
        "instead of 512; what `salmap crop` uses): a faster model and a coarser map "
        "(MODEL_CARD.md, 'A fast map for cropping')",
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda or cuda:N (default: CUDA when the runner has it: PyTorch with CUDA, or "
        "onnxruntime-gpu)",
    )
    existing = p.add_mutually_exclusive_group()
    existing.add_argument(
        "--overwrite", action="store_true", help="replace outputs of an earlier run"
    )
    existing.add_argument(
        "--skip-existing",
        action="store_true",
        help="do only the images whose outputs are missing (resume an interrupted run)",
    )
    add_page_arguments(p)
    add_engine_arguments(p)
    p.set_defaults(run=run)


def _add_output_arguments(p) -> None:
    """Which files are written, under which names, in which bit depth."""
    p.add_argument(
        "--save",
        default="map,overlay",
        help=f"comma-separated outputs: {', '.join(OUTPUTS)} (default: map,overlay)",
    )
    p.add_argument(
        "--naming",
        choices=NAMINGS,
        default="suffix",
        help="output file names: suffix (<name>_map.png, <name>_density.npy, ...) or image "
        "(<name>.png, <name>.npy: the image's own name, as benchmark submissions expect; one "
        "output per extension)",
    )
    p.add_argument("--bits", type=int, choices=(8, 16), default=8, help="bit depth of the map PNG")


def _add_drawing_arguments(p) -> None:
    """How overlays and side-by-sides are drawn."""
    p.add_argument(
        "--scale",
        choices=("mass", "peak"),
        default="mass",
        help="heatmap colours by the share of attention in brighter regions (mass, default) "
        "or relative to the most salient pixel (peak)",
    )
    p.add_argument(
        "--contours", action="store_true", help="draw the 25/50/75%% attention regions' outlines"
    )
    p.add_argument(
        "--no-legend", action="store_true", help="no colour legend under overlays and side-by-sides"
    )
    p.add_argument(
        "--colormap", default=None, help="matplotlib colormap for heatmaps (default: inferno)"
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="heatmap opacity at the most salient point, 0-1 (default: 0.7)",
    )


def _add_reading_arguments(p) -> None:
    """How images are read, and the size and precision of what is kept of them."""
    p.add_argument(
        "--background",
        default="white",
        help="colour under transparent pixels: a name, #rrggbb or r,g,b (default: white)",
    )
    p.add_argument(
        "--all-frames",
        action="store_true",
        help="every frame of multi-frame GIF/TIFF/WebP files (default: the first, noted)",
    )
    p.add_argument(
        "--max-output-side",
        type=int,
        default=None,
        metavar="N",
        help="shrink saved maps and overlays so that their longer side is at most N pixels",
    )
    p.add_argument(
        "--density-dtype",
        choices=DENSITY_DTYPES,
        default="float32",
        help="float16 halves the .npy; it then holds the density times the pixel count",
    )


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour name, ``#rrggbb`` or ``r,g,b`` (0-255) -> an RGB tuple."""
    from PIL import ImageColor

    try:
        if "," in text:
            rgb = tuple(int(v) for v in text.split(","))
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ValueError
            return rgb
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise SalmapError(
            f"--background {text!r}: expected a colour name, #rrggbb or r,g,b with 0-255"
        ) from None


def check_options(args) -> tuple[list[str], OutputOptions]:
    """Every option checked, before any image is read or model loaded: the outputs to save
    and how to draw them. Raises a SalmapError naming the option at fault."""
    from salmap.inference import check_device
    from salmap.models.io import choose_runner
    from salmap.viz import DEFAULT_ALPHA, DEFAULT_COLORMAP, colormap_lut

    kinds = save_kinds(args.save, OUTPUTS)
    check_alpha(args.alpha)
    if args.max_output_side is not None and args.max_output_side < 1:
        raise SalmapError(f"--max-output-side must be at least 1; got {args.max_output_side}")
    colormap = args.colormap or DEFAULT_COLORMAP
    try:
        colormap_lut(colormap)
    except SalmapError as e:
        raise SalmapError(f"--colormap: {e}") from None
    args.background_rgb = parse_colour(args.background)
    if args.fast:
        from salmap.models.io import fast_model

        fast = fast_model(args.model, args.runner)
        if fast == args.model:
            raise SalmapError(
                f"--fast: the model {args.model!r} has no fast export (only the shipped "
                "default has; with --runner torch none is used)"
            )
        args.model = fast
    args.urls = check_page_arguments(args, args.inputs)
    if args.urls and args.engine != "local":
        raise SalmapError(
            "pages by URL work with the local engine; capture them first (salmap capture)"
        )
    args.runner = choose_runner(args.model, args.runner, args.device)
    check_device(args.device, args.runner)
    if "://" not in args.out:  # a URI is checked by the Ray engine (salmap.batch.ray)
        check_output_folder(Path(args.out))
    options = OutputOptions(
        bits=args.bits,
        colormap=colormap,
        alpha=DEFAULT_ALPHA if args.alpha is None else args.alpha,
        scale=args.scale,
        contours=args.contours,
        legend=not args.no_legend,
        density_dtype=args.density_dtype,
    )
    return kinds, options


def run(args) -> int:
    check_engine_arguments(args)
    if args.engine != "local" and args.naming != "suffix":
        raise SalmapError("--naming image works with the local engine only (--engine local)")
    kinds, options = check_options(args)
    summary = predict_inputs(args, kinds, options)
    where = args.out.rstrip("/") if "://" in args.out else Path(args.out)
    print(
        f"{summary.done} image(s) done, {len(summary.skipped)} skipped"
        + (f", {summary.kept} done by an earlier run" if summary.kept else "")
        + (f"; files ignored: {summary.ignored}" if summary.ignored else "")
        + f"; outputs in {where}, listed in {where}/{MANIFEST}"
    )
    for reason in summary.skipped:
        print(f"  skipped: {reason}", file=sys.stderr)
    return 1 if summary.skipped else 0
