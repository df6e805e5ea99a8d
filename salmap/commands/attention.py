"""``salmap attention IMAGE``: the share of the predicted attention in each region of an image.

Regions are named boxes and polygons in a JSON file (``{"logo": [x0, y0, x1, y1], "product":
[[x, y], [x, y], [x, y], ...]}``, image pixels as shown, EXIF orientation applied, x1 and y1
exclusive; a pixel counts when its centre is inside), a label PNG the size of the image (each
non-zero value, or each non-black colour, is a region), or the cells of a grid (``--grid 3x3``,
the default). Also printed: the share outside all regions, the overlaps of regions (whose
attention counts in each), and the concentration: the fraction of the image, its most attended
pixels first, that holds 50% of the attention (50% for a uniform map; the smaller, the more the
attention gathers on a few places).
"""

from __future__ import annotations

import json

from salmap.commands import add_model_arguments, add_page_arguments, check_page_arguments
from salmap.errors import SalmapError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "attention",
        help="share of the predicted attention in each region of an image",
        description=__doc__.split("\n\n")[1].replace("``", ""),
    )
    p.add_argument("image", metavar="IMAGE", help="the image, or an http(s) URL of a page")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--regions", metavar="FILE", help="a .json of named boxes and polygons, or a label PNG"
    )
    where.add_argument(
        "--grid", metavar="RxC", help="a grid of R rows and C columns (default: 3x3)"
    )
    add_model_arguments(p, runner=False)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_page_arguments(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from salmap.regions import attention, parse_grid

    if args.regions is not None:
        regions = Path(args.regions)
        if not regions.is_file():
            raise SalmapError(f"{regions}: no such regions file")
    else:
        regions = "grid {}x{}".format(*parse_grid(args.grid or "3x3"))
    urls = check_page_arguments(args, [args.image])
    page = {"long_page": args.long_page, "viewport": args.viewport_size}
    # the image and the regions are checked before the model loads
    if urls:
        result = attention_of_page(urls[0], regions, args, page)
    else:
        result = attention(args.image, regions, model=args.model, **page)
    if args.json:
        print(json.dumps({"image": args.image, **result.to_dict()}, indent=2))
    else:
        print(f"{args.image} ({result.width}x{result.height})")
        print(result.table())
    return 0


def attention_of_page(url: str, regions, args, page: dict):
    """:func:`salmap.regions.attention` of the page at ``url``, captured as the options say."""
    import io

    from PIL import Image

    from salmap.capture import DEFAULT_VIEWPORT, capture, find_browser
    from salmap.regions import attention

    find_browser()
    viewport = args.viewport_size or DEFAULT_VIEWPORT
    shot = capture(url, viewport, args.full_page, args.timeout)
    image = Image.open(io.BytesIO(shot.png))
    return attention(image, regions, model=args.model, **{**page, "viewport": viewport})
