"""``salmap capture URL --out page.png``: a screenshot of a live page, as any command takes it.

Headless Chromium (selenium; Chromium and chromedriver on PATH) loads the page at the viewport's
size, waits for its fonts and images, and saves the first screenful or, with ``--full-page``, the
whole page. Only http:// and https:// URLs are loaded; the file is written atomically.
"""

from __future__ import annotations

from salmap.commands import add_page_arguments, check_page_arguments, new_output
from salmap.errors import SalmapError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "capture",
        help="screenshot a web page (headless Chromium) for predict, crop, attention...",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("url", metavar="URL", help="the page: an http:// or https:// URL")
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_page_arguments(p, long_page=False)
    p.set_defaults(run=run)


def run(args) -> int:
    from salmap.capture import DEFAULT_VIEWPORT, capture, check_url, find_browser, save_capture

    out = new_output(args.out, args.overwrite)
    if out.suffix.lower() != ".png":
        raise SalmapError(f"--out {out}: a capture is a PNG; name it .png")
    check_url(args.url)
    check_page_arguments(args, [args.url])
    find_browser()
    viewport = args.viewport_size or DEFAULT_VIEWPORT
    shot = capture(args.url, viewport, args.full_page, args.timeout)
    save_capture(shot, out)
    print(f"{out}: {shot.width}x{shot.height} at a {viewport[0]}x{viewport[1]} viewport")
    if shot.note:
        print(f"note: {shot.note}")
    return 0
