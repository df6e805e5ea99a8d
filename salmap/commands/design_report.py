"""``salmap design-report IMAGE... --out report.html``: a report on designs to send to a client.

One self-contained HTML file (images embedded, nothing fetched) and, with --pdf or an --out
ending in .pdf, a PDF of it printed by headless Chromium. Per image: the heatmap with its
legend, the fog view, the share of attention in each region (--regions, as salmap attention
reads them, applied to every image; default a 3x3 grid), the crops that keep the most attention
and the focus figure (the part of the design holding half of the attention) among reference
designs. Two or more images are compared as variants. (``salmap report`` is a training run's
report.)
"""

from __future__ import annotations

from pathlib import Path

from salmap.commands import add_model_arguments
from salmap.errors import SalmapError

SUFFIXES = (".html", ".htm", ".pdf")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "design-report",
        help="a shareable HTML (and PDF) report on one or more designs",
        description=__doc__.split("\n\n")[1].replace("``", ""),
    )
    p.add_argument("images", metavar="IMAGE", nargs="+", help="the designs (variants compared)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--regions", metavar="FILE", help="a .json of named boxes and polygons, or a label PNG"
    )
    where.add_argument("--grid", metavar="RxC", help="a grid of R rows and C columns")
    p.add_argument("--out", required=True, help="report.html, or report.pdf for the PDF alone")
    p.add_argument("--pdf", action="store_true", help="also print the PDF beside the HTML")
    p.add_argument("--title", help="the report's title (default: from the image names)")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files")
    add_model_arguments(p, runner=False)
    p.set_defaults(run=run)


def outputs(out: Path, pdf: bool, overwrite: bool) -> tuple[Path | None, Path | None]:
    """(the HTML, the PDF) to write, each None when not asked for; checked before any work."""
    if out.suffix.lower() not in SUFFIXES:
        raise SalmapError(f"--out {out}: name a .html or .pdf file")
    if not out.parent.is_dir():
        raise SalmapError(f"--out {out}: the folder {out.parent} does not exist")
    is_pdf = out.suffix.lower() == ".pdf"
    html = None if is_pdf else out
    pdf_out = out if is_pdf else (out.with_suffix(".pdf") if pdf else None)
    for path in (html, pdf_out):
        if path is not None and path.exists() and not overwrite:
            raise SalmapError(f"{path} exists; pass --overwrite to replace it")
    if pdf_out is not None:
        from salmap.capture import find_chromium

        if find_chromium() is None:
            raise SalmapError(
                f"{pdf_out}: a PDF is printed by headless Chromium, which is not installed "
                "(apt-get install chromium); write the .html report instead"
            )
    return html, pdf_out


def run(args) -> int:
    from salmap.design_report import print_pdf, read_designs, report_html
    from salmap.files import atomic_write_bytes
    from salmap.regions import parse_grid

    html_out, pdf_out = outputs(Path(args.out), args.pdf, args.overwrite)
    regions = None
    if args.regions is not None:
        regions = Path(args.regions)
        if not regions.is_file():
            raise SalmapError(f"--regions {regions}: no such regions file")
    elif args.grid is not None:
        regions = "grid {}x{}".format(*parse_grid(args.grid))
    designs = read_designs(args.images, model=args.model, regions=regions)
    text = report_html(designs, regions, model_name=str(args.model), title=args.title)
    if html_out is not None:
        atomic_write_bytes(html_out, text.encode("utf-8"))
        print(f"wrote {html_out} ({len(text) / 1e6:.1f} MB)")
    if pdf_out is not None:
        print_pdf(text, pdf_out)
        print(f"wrote {pdf_out}")
    return 0
