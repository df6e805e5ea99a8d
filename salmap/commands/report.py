"""``salmap report RUN``: a training run's report (curves, kept models against the centre bias,
validation images), as report.md with its PNGs and a self-contained report.html."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write a training run's report (RUN/report/report.html and report.md)",
        description=__doc__,
    )
    p.add_argument("run_dir", metavar="RUN", help="the run folder written by salmap train")
    p.add_argument("--data", help="the run's dataset, where it has moved since training")
    p.add_argument("--out", help="report folder (default: RUN/report)")
    p.add_argument(
        "--images", type=int, default=4, help="validation images in the comparison figure"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    p.set_defaults(run=run)


def run(args) -> int:
    from tqdm import tqdm

    from salmap.errors import SalmapError
    from salmap.report import write_report

    if args.images < 1:
        raise SalmapError(f"--images must be at least 1, got {args.images}")
    out = write_report(
        args.run_dir,
        data=args.data,
        out=args.out,
        images=args.images,
        overwrite=args.overwrite,
        progress=lambda it: tqdm(it, desc="scoring", unit="img", leave=False),
    )
    print(f"wrote {out / 'report.html'} and {out / 'report.md'}")
    return 0
