"""libvips' attention crop of each image given, written as a JPEG: what sharp's
``resize(w, h, {position: "attention"})`` does, for benchmarks/bench_crop_speed.sh. The window is
salmap's largest window of ``--aspect`` (:func:`salmap.cropping.window_size`, zoom 1). With
``--size WxH``, libvips' thumbnail of exactly that size with an attention crop instead (a JPEG
shrunk on load, then cropped; benchmarks/bench_thumbnail_speed.sh).

    python benchmarks/vips_crop.py OUT IMAGE... [--aspect 1:1 | --size WxH] [--interesting attention]
"""

import argparse
import os
from pathlib import Path

os.environ.setdefault("VIPS_CONCURRENCY", "1")  # one thread, as the other tools get

import pyvips  # noqa: E402


def window(width: int, height: int, aspect: str) -> tuple[int, int]:
    """salmap.cropping.window_size at zoom 1, without importing salmap (its start-up is not
    libvips')."""
    aw, ah = (float(v) for v in aspect.split(":"))
    if width / height > aw / ah:
        return max(1, min(width, round(height * aw / ah))), height
    return width, max(1, min(height, round(width * ah / aw)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("images", nargs="+", type=Path)
    ap.add_argument("--aspect", default="1:1")
    ap.add_argument("--interesting", default="attention")
    ap.add_argument("--size", help="WxH: a thumbnail of that size")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.size:
        w, h = (int(v) for v in args.size.split("x"))
        for path in args.images:
            thumb = pyvips.Image.thumbnail(str(path), w, height=h, crop=args.interesting)
            thumb.write_to_file(str(args.out / f"{path.stem}_crop_{w}x{h}.jpg"), Q=92)
        return
    for path in args.images:
        image = pyvips.Image.new_from_file(str(path))
        w, h = window(image.width, image.height, args.aspect)
        crop = image.smartcrop(w, h, interesting=args.interesting)
        crop.write_to_file(str(args.out / f"{path.stem}_crop_{w}x{h}.jpg"), Q=92)


if __name__ == "__main__":
    main()
