"""A contact sheet of crops: six images, each cropped at 1:1, 4:5 and 9:16 by libvips'
attention crop, by ``salmap crop`` (its default, ``--map fast``) and by ``salmap crop
--composition centre``, written as a small PNG (docs/crop_sheet.png); and the two composition
targets of issue 22, printed per tool: how far the product shot's bottle sits from its crop's
centre, and which words of the poster's headline its 9:16 crop cuts (and of the landing page's
at each ratio), with where the windows that cut none lie. The salmap boxes are those
``salmap crop --aspect 1:1,4:5,9:16 [--composition centre]`` writes to crops.jsonl.

Every tool gets the same window (:func:`salmap.cropping.window_size`, zoom 1): libvips through
pyvips' ``smartcrop(w, h, interesting="attention")`` (what sharp's ``attention`` position calls)
on the full image; salmap as ``salmap crop`` runs it (:mod:`salmap.batch.crop`): the shipped
default's fast export (:func:`salmap.models.io.fast_model`), the map at a longer side of
:data:`salmap.cropping.FAST_MAP_SIDE`, the windows searched on it and placed on the image
(``best_windows(..., image_size=)``), with the command's default tolerance and border.

The images: a product on white, a poster and a landing page drawn here with Pillow (deterministic:
fixed shapes, Pillow's bundled font, seeded noise); a close-up portrait (EyeCrowd 144.jpg) and a
group (EyeCrowd 022.jpg) from EyeCrowd (Jiang et al., ECCV 2014; MIT License, Copyright (c) 2014
Ming Jiang); a landscape (OSIE 1058.jpg, a beach at sunset) from OSIE (Xu et al., JoV 2014; MIT
License, Copyright (c) 2014 NUS VIP Lab). Only thumbnails of these three are in the sheet. The
two EyeCrowd images are in its training split, on which the fast map's student was distilled
(benchmarks/distill_fast.py): the sheet shows what the crops look like; it scores nothing.

    nice python benchmarks/crop_sheet.py [--out docs/crop_sheet.png]
        [--eyecrowd ../shared/datasets/eyecrowd] [--osie ../shared/datasets/osie]
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from salmap.cropping import FAST_MAP_SIDE, best_windows, window_size
from salmap.inference import read_input, restore
from salmap.models.io import fast_model, load_model

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
ASPECTS = ("1:1", "4:5", "9:16")
TOOLS = ("libvips attention", "salmap crop", "salmap crop --composition centre")
# printed beside them, not drawn: framing allowed to cost up to 2% of the attention
LOOSE = "  ... --tolerance 0.02"
LOOSE_TOLERANCE = 0.02
CELL = 124  # height of each thumbnail in the sheet, pixels
GAP, GROUP_GAP, MARGIN = 4, 18, 10


@dataclass
class Picture:
    """An image of the sheet: its name, its pixels (H x W x 3 uint8), the file salmap and
    libvips read (None: drawn here, handed over as pixels), and, for drawn ones, named boxes
    (x0, y0, x1, y1, image pixels, exclusive) of what the checks look at."""

    name: str
    rgb: np.ndarray
    path: Path | None = None
    boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)


# --- the drawn images ---------------------------------------------------------------------------


def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled font: the same glyphs on every machine."""
    return ImageFont.load_default(size=size)


def product() -> Picture:
    """A green bottle with a label and a soft shadow on white (720 x 480), left of the image's
    centre so that centring it is a choice; faint seeded noise as a photo's."""
    width, height, cx = 720, 480, 300
    shadow = Image.new("L", (width, height), 0)
    ImageDraw.Draw(shadow).ellipse((cx - 75, 405, cx + 95, 435), fill=90)
    shadow = shadow.filter(ImageFilter.GaussianBlur(9))
    image = Image.new("RGB", (width, height), (255, 255, 255))
    image.paste((150, 150, 150), mask=shadow)
    d = ImageDraw.Draw(image)
    glass = (38, 104, 66)
    d.rounded_rectangle((cx - 45, 175, cx + 45, 420), radius=14, fill=glass)
    d.polygon([(cx - 45, 195), (cx - 16, 140), (cx + 16, 140), (cx + 45, 195)], fill=glass)
    d.rectangle((cx - 15, 110, cx + 15, 145), fill=glass)
    d.rounded_rectangle((cx - 18, 85, cx + 18, 114), radius=4, fill=(120, 30, 30))
    d.rectangle((cx - 33, 190, cx - 25, 405), fill=(90, 160, 115))  # the glass's highlight
    d.rectangle((cx - 45, 255, cx + 45, 345), fill=(238, 228, 204))
    d.text((cx, 285), "OLIVE", fill=(60, 50, 40), font=font(22), anchor="mm")
    d.text((cx, 315), "OIL", fill=(60, 50, 40), font=font(22), anchor="mm")
    rgb = np.asarray(image).astype(np.float64)
    rgb += np.random.default_rng(0).normal(0, 1.5, rgb.shape)
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return Picture("product on white", rgb, boxes={"bottle": (cx - 45, 85, cx + 46, 421)})


POSTER_HEADLINE = ("THE ARBOUR", "MUSIC", "FESTIVAL")
LANDING_HEADLINE = ("Photos that", "frame themselves")


def poster() -> Picture:
    """A 1000 x 1250 poster: a three-line headline whose widest line nearly fills a 9:16 window
    (635 px of 703), a date line and an image block; each headline word's box is kept as
    ``word <i>: <WORD>``."""
    width, height = 1000, 1250
    image = Image.new("RGB", (width, height), (24, 36, 84))
    d = ImageDraw.Draw(image)
    d.text(
        (width // 2, 70),
        "RIVERSIDE PARK PRESENTS",
        fill=(200, 210, 235),
        font=font(30),
        anchor="mm",
    )
    big = font(104)
    origins = [
        ((width - d.textlength(line, font=big)) / 2, 110 + 118 * i)
        for i, line in enumerate(POSTER_HEADLINE)
    ]
    boxes = _words(d, POSTER_HEADLINE, origins, big, (255, 214, 64), 3)
    d.text(
        (width // 2, 505),
        "SATURDAY 14 JUNE  ·  2 PM TILL LATE",
        fill=(255, 255, 255),
        font=font(44),
        anchor="mm",
    )
    _landscape_block(d, (80, 575, 920, 1140))
    d.text(
        (width // 2, 1195),
        "arbourfest.example  ·  free entry",
        fill=(200, 210, 235),
        font=font(28),
        anchor="mm",
    )
    return Picture("poster", np.asarray(image), boxes=boxes)


def _words(d: ImageDraw.ImageDraw, lines, origins, face, fill, stroke: int) -> dict:
    """Draw each of ``lines`` from its (x, y) in ``origins``, bold by ``stroke`` px; the box of
    each word as ``"word <i>: <WORD>"`` -> (x0, y0, x1, y1), x1 and y1 exclusive."""
    boxes = {}
    for line, (x, y) in zip(lines, origins):
        for word in line.split():
            x0, y0, x1, y1 = d.textbbox((x, y), word, font=face, stroke_width=stroke)
            d.text((x, y), word, fill=fill, font=face, stroke_width=stroke, stroke_fill=fill)
            boxes[f"word {len(boxes) + 1}: {word}"] = (int(x0), int(y0), int(x1) + 1, int(y1) + 1)
            x += d.textlength(word + " ", font=face)
    return boxes


def _landscape_block(d: ImageDraw.ImageDraw, box) -> None:
    """A drawn picture in ``box``: sky, sun, hills and a tree, placed in fractions of it."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0

    def at(fx: float, fy: float) -> tuple[int, int]:
        return round(x0 + fx * w), round(y0 + fy * h)

    for i in range(h):  # a sky fading to the horizon
        t = i / h
        d.line((x0, y0 + i, x1 - 1, y0 + i), fill=(int(110 + 120 * t), int(170 + 60 * t), 235))
    d.ellipse((*at(0.72, 0.1), *at(0.86, 0.3)), fill=(255, 200, 80))
    hills = [at(0, 0.68), at(0.36, 0.47), at(0.74, 0.7), at(1, 0.54), at(1, 1), at(0, 1)]
    d.polygon(hills, fill=(60, 130, 70))
    d.rectangle((*at(0.22, 0.42), *at(0.25, 0.62)), fill=(90, 60, 40))
    d.ellipse((*at(0.15, 0.24), *at(0.32, 0.47)), fill=(40, 100, 50))


def landing_page() -> Picture:
    """A 1280 x 800 landing page: a navigation bar, a two-line headline, a line of text, a
    button and a hero picture on the right."""
    width, height = 1280, 800
    image = Image.new("RGB", (width, height), (255, 255, 255))
    d = ImageDraw.Draw(image)
    d.rectangle((0, 0, width, 72), fill=(248, 249, 252))
    d.line((0, 72, width, 72), fill=(225, 228, 235), width=2)
    d.text(
        (60, 36),
        "Lumen",
        fill=(30, 40, 70),
        font=font(30),
        anchor="lm",
        stroke_width=1,
        stroke_fill=(30, 40, 70),
    )
    for i, link in enumerate(("Product", "Pricing", "Docs", "Sign in")):
        d.text((820 + 110 * i, 36), link, fill=(80, 90, 110), font=font(20), anchor="lm")
    origins = [(80, 190 + 80 * i) for i in range(len(LANDING_HEADLINE))]
    boxes = _words(d, LANDING_HEADLINE, origins, font(66), (20, 25, 45), 2)
    d.text(
        (80, 380), "Every crop, every size, where people look.", fill=(90, 100, 120), font=font(24)
    )
    d.rounded_rectangle((80, 450, 300, 516), radius=12, fill=(37, 99, 235))
    d.text((190, 483), "Get started", fill=(255, 255, 255), font=font(26), anchor="mm")
    _landscape_block(d, (720, 130, 1200, 650))
    return Picture("landing page", np.asarray(image), boxes=boxes)


def photo(name: str, path: Path) -> Picture:
    from salmap.data.images import load_image

    if not path.is_file():
        raise SystemExit(f"{path} is missing: give its data set's folder (see --help)")
    return Picture(name, load_image(path), path=path)


# --- the three tools ----------------------------------------------------------------------------


def vips_boxes(picture: Picture) -> dict:
    """libvips' attention crop of each aspect: the box it cut, read back from its offsets."""
    import pyvips

    if picture.path is not None:
        image = pyvips.Image.new_from_file(str(picture.path))
    else:
        image = pyvips.Image.new_from_array(picture.rgb).copy(interpretation="srgb")
    out = {}
    for aspect in ASPECTS:
        w, h = window_size(image.width, image.height, aspect)
        crop = image.smartcrop(w, h, interesting="attention")
        x0, y0 = -crop.xoffset, -crop.yoffset
        out[aspect] = (x0, y0, x0 + w, y0 + h)
    return out


def salmap_boxes(model, picture: Picture) -> dict:
    """tool -> aspect -> box, as ``salmap crop`` (its default map) finds them with and without
    ``--composition centre`` (and with ``--tolerance 0.02``, printed only): one fast map."""
    source = picture.rgb if picture.path is None else picture.path
    _, x, geometry = read_input(
        source, model.config, max_output_side=FAST_MAP_SIDE, keep_pixels=False
    )
    density = restore(model(x[None])[0], geometry)
    size = (picture.rgb.shape[1], picture.rgb.shape[0])
    plain = best_windows(density, ASPECTS, 1.0, size)
    framed = best_windows(density, ASPECTS, 1.0, size, composition="centre")
    loose = best_windows(
        density, ASPECTS, 1.0, size, composition="centre", tolerance=LOOSE_TOLERANCE
    )
    return {
        TOOLS[1]: {a: w.box for a, w in plain.items()},
        TOOLS[2]: {a: w.box for a, w in framed.items()},
        LOOSE: {a: w.box for a, w in loose.items()},
    }


# --- the checks ---------------------------------------------------------------------------------


def centring(bottle, box) -> str:
    """The bottle's horizontal offset from the crop's centre, % of the crop's width (+ right),
    and whether the bottle is whole in the crop."""
    bx = (bottle[0] + bottle[2]) / 2
    offset = 100 * (bx - (box[0] + box[2]) / 2) / (box[2] - box[0])
    whole = box[0] <= bottle[0] and bottle[2] <= box[2] and box[1] <= bottle[1]
    whole = whole and bottle[3] <= box[3]
    return f"{offset:+5.1f}%{'' if whole else ' (bottle cut)'}"


def is_cut(word, box) -> bool:
    """A word is cut when its box is partly inside the crop (overlaps it, not contained)."""
    overlap = word[0] < box[2] and box[0] < word[2] and word[1] < box[3] and box[1] < word[3]
    inside = box[0] <= word[0] and word[2] <= box[2] and box[1] <= word[1] and word[3] <= box[3]
    return overlap and not inside


def report(pictures: list[Picture], found: dict) -> None:
    """Print the checks: the bottle's centring, and the headline words each crop cuts."""
    bottle, name = pictures[0].boxes["bottle"], pictures[0].name
    print(
        "Product on white: the bottle's horizontal offset from the crop's centre, % of the "
        "crop's width (+: right of it)"
    )
    print(f"  {'':34s}" + "".join(f"{a:>16s}" for a in ASPECTS))
    for tool in (*TOOLS, LOOSE):
        cells = "".join(f"{centring(bottle, found[tool][name][a]):>16s}" for a in ASPECTS)
        print(f"  {tool:34s}{cells}")
    report_words(pictures[1], POSTER_HEADLINE, found, ("9:16",))
    report_words(pictures[2], LANDING_HEADLINE, found, ASPECTS)


def report_words(picture: Picture, headline, found: dict, aspects) -> None:
    """The headline words each tool's crop cuts at each of ``aspects``, and where the windows
    that cut none lie (a zoom-1 window spans one side: it moves along the other only)."""
    print(f"{picture.name}: headline words cut ({' / '.join(headline)})")
    words = picture.boxes
    for aspect in aspects:
        for tool in (*TOOLS, LOOSE):
            box = found[tool][picture.name][aspect]
            cut = [k.split(": ")[1] for k, b in words.items() if is_cut(b, box)]
            print(f"  {aspect:5s} {tool:34s} box {box}: cut {', '.join(cut) or 'none'}")
        height, width = picture.rgb.shape[:2]
        w, h = window_size(width, height, aspect)
        axis = 0 if w < width else 1
        room = (width - w, height - h)[axis]
        clean = [
            v
            for v in range(room + 1)
            if not any(
                is_cut(b, (v, 0, v + w, h) if axis == 0 else (0, v, w, v + h))
                for b in words.values()
            )
        ]
        print(
            f"  {aspect:5s} windows ({w}x{h}) that cut no word: {'xy'[axis]}0 in "
            f"{_spans(clean) or 'none'} of 0-{room}"
        )


def _spans(xs: list[int]) -> str:
    runs, start = [], None
    for i, x in enumerate(xs):
        start = x if start is None else start
        if i + 1 == len(xs) or xs[i + 1] != x + 1:
            runs.append(f"{start}-{x}" if x != start else f"{x}")
            start = None
    return ", ".join(runs)


# --- the sheet ----------------------------------------------------------------------------------


def thumbnail(rgb: np.ndarray, box=None, height: int = CELL) -> Image.Image:
    image = Image.fromarray(rgb)
    if box is not None:
        image = image.crop(box)
    width = max(1, round(image.width * height / image.height))
    return image.resize((width, height), Image.LANCZOS)


def sheet(pictures: list[Picture], found: dict) -> Image.Image:
    """Rows: the images (the original first); columns: the tools, each at every aspect."""
    cell_widths = [round(CELL * _ratio(a)) for a in ASPECTS]
    group = sum(cell_widths) + GAP * (len(ASPECTS) - 1)
    first = round(CELL * 1.6)
    head = 44
    width = MARGIN * 2 + first + len(TOOLS) * (group + GROUP_GAP)
    height = head + len(pictures) * (CELL + 20) + MARGIN
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    small, label = font(12), font(14)
    d.text((MARGIN, 6), "image", fill=(0, 0, 0), font=label)
    for t, tool in enumerate(TOOLS):
        x = MARGIN + first + GROUP_GAP + t * (group + GROUP_GAP)
        d.text((x, 6), tool, fill=(0, 0, 0), font=label)
        for a, aspect in enumerate(ASPECTS):
            d.text((x + sum(cell_widths[:a]) + GAP * a, 26), aspect, fill=(90, 90, 90), font=small)
    for r, picture in enumerate(pictures):
        y = head + r * (CELL + 20)
        original = thumbnail(picture.rgb)
        original.thumbnail((first, CELL))
        canvas.paste(original, (MARGIN, y))
        d.text((MARGIN, y + CELL + 2), picture.name, fill=(60, 60, 60), font=small)
        for t, tool in enumerate(TOOLS):
            x = MARGIN + first + GROUP_GAP + t * (group + GROUP_GAP)
            for a, aspect in enumerate(ASPECTS):
                cell = thumbnail(picture.rgb, found[tool][picture.name][aspect])
                canvas.paste(cell.resize((cell_widths[a], CELL)), (x, y))
                x += cell_widths[a] + GAP
    for t in range(1, len(TOOLS)):  # rules between the tools' groups
        x = MARGIN + first + GROUP_GAP // 2 + t * (group + GROUP_GAP)
        d.line((x, 4, x, height - MARGIN), fill=(200, 200, 200))
    return canvas


def _ratio(aspect: str) -> float:
    w, h = (float(v) for v in aspect.split(":"))
    return w / h


def save_small(image: Image.Image, path: Path) -> int:
    """Write ``image`` as a PNG quantised to 256 colours (no dithering: smaller, and the crops
    stay readable); its size in bytes."""
    quantised = image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    path.parent.mkdir(parents=True, exist_ok=True)
    quantised.save(path, optimize=True)
    return path.stat().st_size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("docs/crop_sheet.png"))
    p.add_argument("--eyecrowd", type=Path, default=DATASETS / "eyecrowd")
    p.add_argument("--osie", type=Path, default=DATASETS / "osie")
    args = p.parse_args()
    os.environ.setdefault("VIPS_CONCURRENCY", "1")
    pictures = [
        product(),
        poster(),
        landing_page(),
        photo("portrait", args.eyecrowd / "stimuli" / "144.jpg"),
        photo("group", args.eyecrowd / "stimuli" / "022.jpg"),
        photo("landscape", args.osie / "stimuli" / "1058.jpg"),
    ]
    model = load_model(fast_model("default"))
    if hasattr(model, "use_threads"):
        model.use_threads(1)
    found = {tool: {} for tool in (*TOOLS, LOOSE)}
    for picture in pictures:
        found[TOOLS[0]][picture.name] = vips_boxes(picture)
        for tool, boxes in salmap_boxes(model, picture).items():
            found[tool][picture.name] = boxes
    report(pictures, found)
    size = save_small(sheet(pictures, found), args.out)
    print(f"wrote {args.out} ({size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
