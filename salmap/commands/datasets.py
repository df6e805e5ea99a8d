"""``salmap datasets info PATH``: describe a dataset folder and list its problems."""

from __future__ import annotations

import json

from salmap.data import formats, open_dataset
from salmap.data.info import format_summary, summarize


def add_parser(sub) -> None:
    p = sub.add_parser("datasets", help="inspect saliency datasets")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = dsub.add_parser("info", help="counts, categories, sizes, fixations and problems")
    info.add_argument("path", help="dataset folder (for BubbleView, one of its .mat files)")
    info.add_argument("--format", choices=list(formats()), help="layout (guessed when omitted)")
    info.add_argument(
        "--quick", action="store_true", help="read file headers only, do not decode every image"
    )
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(run=run_info)


def run_info(args) -> int:
    from tqdm import tqdm

    dataset = open_dataset(args.path, args.format)
    summary = summarize(
        dataset,
        check=not args.quick,
        progress=lambda it: tqdm(it, desc="checking", unit="img", leave=False),
    )
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 1 if summary["problems"] else 0
