"""``salmap attention IMAGE...``: the share of the predicted attention in each region of images.

Regions are named boxes and polygons in a JSON file (``{"units": "px", "regions": [{"name":
"logo", "box": [x0, y0, x1, y1]}, {"name": "cta", "polygon": [[x, y], [x, y], [x, y]]}]}``, in
image pixels as shown, EXIF orientation applied, x1 and y1 exclusive, or with ``"units":
"fraction"`` in fractions of the image; the page's "Regions JSON" writes this; the older
``{"logo": [x0, y0, x1, y1]}`` is read too), a label PNG the size of the image (each non-zero
value, or each non-black colour, is a region), or the cells of a grid (``--grid 3x3``, the
default). One region file serves every image: a pixel file drawn on another size is scaled,
with a note. Also printed: the share outside all regions, the overlaps of regions (whose
attention counts in each), and the concentration: the fraction of the image, its most attended
pixels first, that holds 50% of the attention (50% for a uniform map; the smaller, the more the
attention gathers on a few places). With two images or more, a table compares them side by side.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from salmap.commands import add_model_arguments, add_page_arguments, check_page_arguments
from salmap.errors import SalmapError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "attention",
        help="share of the predicted attention in each region of images",
        description=__doc__.split("\n\n")[1].replace("``", ""),
    )
    p.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="the images (variants of a design), or http(s) URLs of pages",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--regions", metavar="FILE", help="a .json of named boxes and polygons, or a label PNG"
    )
    where.add_argument(
        "--grid", metavar="RxC", help="a grid of R rows and C columns (default: 3x3)"
    )
    add_model_arguments(p, runner=False)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--csv",
        metavar="FILE",
        help="also write a row per image and region: image, width, height, region, attention, "
        "area, concentration, note",
    )
    add_page_arguments(p)
    p.set_defaults(run=run)


def check_inputs(args):
    """The regions (a path or a grid) after checking them against every image (its size from
    its header) before the model loads, and the URLs among the images (pages, captured)."""
    from salmap.data.images import image_size
    from salmap.regions import parse_grid, resolve_regions

    if args.regions is not None:
        regions = Path(args.regions)
        if not regions.is_file():
            raise SalmapError(f"{regions}: no such regions file")
    else:
        regions = "grid {}x{}".format(*parse_grid(args.grid or "3x3"))
    if len(set(args.images)) != len(args.images):
        raise SalmapError(f"an image is given twice: {' '.join(args.images)}")
    if args.csv is not None and Path(args.csv).is_dir():
        raise SalmapError(f"--csv {args.csv}: is a folder; give a file name such as shares.csv")
    urls = check_page_arguments(args, args.images)
    for image in args.images:
        if image in urls:
            continue  # its size is known once captured: the regions are checked then
        if not Path(image).is_file():
            raise SalmapError(f"{image}: no such image")
        try:
            resolve_regions(regions, image_size(image))
        except SalmapError as e:
            raise SalmapError(e if image in str(e) else f"{image}: {e}") from None
    return regions, urls


def run(args) -> int:
    from salmap.regions import attention, compare_table

    regions, urls = check_inputs(args)
    page = {"long_page": args.long_page, "viewport": args.viewport_size}
    results = {
        image: attention_of_page(image, regions, args, page)
        if image in urls
        else attention(image, regions, model=args.model, **page)
        for image in args.images
    }
    if args.csv is not None:
        write_csv(Path(args.csv), results)
    if args.json:
        rows = [{"image": image, **r.to_dict()} for image, r in results.items()]
        print(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2))
        return 0
    for image, result in results.items():
        print(f"{image} ({result.width}x{result.height})")
        print(result.table())
        print()
    if len(results) > 1:
        print(compare_table(results))
    return 0


def write_csv(path: Path, results: dict) -> None:
    from salmap.files import atomic_write_bytes
    from salmap.regions import CSV_COLUMNS, csv_rows

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for image, result in results.items():
        writer.writerows(csv_rows(image, result))
    atomic_write_bytes(path, text.getvalue().encode())


def attention_of_page(url: str, regions, args, page: dict):
    """:func:`salmap.regions.attention` of the page at ``url``, captured as the options say."""
    from PIL import Image

    from salmap.capture import DEFAULT_VIEWPORT, capture, find_browser
    from salmap.regions import attention

    find_browser()
    viewport = args.viewport_size or DEFAULT_VIEWPORT
    shot = capture(url, viewport, args.full_page, args.timeout)
    image = Image.open(io.BytesIO(shot.png))
    return attention(image, regions, model=args.model, **{**page, "viewport": viewport})
