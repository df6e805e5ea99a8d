"""``salmap compare``: one figure of images beside the maps of several models or checkpoints
(e.g. the seed's epochs 50, 100 and 200) and, where the data has them, the human fixations."""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare", help="figure comparing the maps of several models", description=__doc__
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=[],
        help="shipped models (default, accurate), model folders, .safetensors or .onnx files",
    )
    p.add_argument(
        "--predictions",
        nargs="+",
        default=[],
        metavar="DIR",
        help="folders of maps made elsewhere, matched to the images by id or file stem (as "
        "salmap evaluate reads them); shown after the models",
    )
    p.add_argument(
        "--labels", nargs="+", help="column titles (default: the model and folder names)"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", nargs="+", help="image files")
    src.add_argument("--data", help="a dataset folder: shows its ground truth too")
    p.add_argument("--format", help="dataset layout (guessed when omitted)")
    p.add_argument("--split", default="val", choices=["train", "val", "all"])
    p.add_argument(
        "--n", type=int, default=4, help="how many dataset images (the first of the split)"
    )
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(run=run)


def run(args) -> int:
    from salmap.comparison import add_maps, dataset_rows, image_rows
    from salmap.errors import SalmapError
    from salmap.models.io import model_label
    from salmap.viz import comparison_figure, save_figure

    if Path(args.out).exists() and not args.overwrite:
        raise SalmapError(f"{args.out} exists; pass --overwrite to replace it")
    if not args.models and not args.predictions:
        raise SalmapError("nothing to compare: give --models and/or --predictions")
    columns = len(args.models) + len(args.predictions)
    labels = args.labels or [model_label(m) for m in args.models] + [
        Path(d).resolve().name for d in args.predictions
    ]
    if len(labels) != columns:
        raise SalmapError(f"{columns} models and prediction folders but {len(labels)} labels")
    if args.images:
        rows = image_rows(args.images)
    else:
        rows = dataset_rows(args.data, args.format, args.split, args.n)
        if len(rows) < args.n:
            print(
                f"salmap compare: the {args.split} split of {args.data} has {len(rows)} "
                f"image(s); drawing {len(rows)} rows, not {args.n}",
                file=sys.stderr,
            )
    add_maps(rows, args.models, args.predictions)
    save_figure(comparison_figure(rows, labels), Path(args.out))
    print(f"wrote {args.out}")
    return 0
