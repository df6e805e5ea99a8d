"""A report on designs to share: one self-contained HTML file (images as data URIs, inline CSS,
nothing fetched), and a PDF of it printed by headless Chromium.

Per design: the heatmap overlay with its legend, the fog view, the share of attention in each
region, the crops that keep the most attention, and the focus figure: the fraction of the
design, its most attended pixels first, that holds half of the predicted attention
(:func:`salmap.regions.concentration`), placed among reference designs (:data:`REFERENCE_FILE`,
written by ``benchmarks/focus_reference.py``). With two or more designs (variants), a table
compares them. ``salmap design-report`` and the API's ``/report`` both call :func:`report_html`.
"""

from __future__ import annotations

import base64
import html
import json
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np

from salmap.errors import SalmapError
from salmap.files import atomic_write_bytes

REFERENCE_FILE = Path(__file__).resolve().parent / "weights" / "default.focus.json"
# The BubbleView sets of the reference table: key -> (.mat file, what a reader is told).
REFERENCE_SETS = {
    "designs": ("gdi30x50.mat", "graphic designs"),
    "charts": ("massvis_fv_40x32.mat", "charts"),
}
REFERENCE_NAMES = {
    "designs": "graphic designs: posters, flyers, ads (GDI)",
    "charts": "charts and infographics (MASSVIS)",
    "all": "all together",
}
REPORT_GRID = "grid 3x3"  # the regions of a report given none
# Images are shown at most this many pixels on their longer side (the file stays small).
SHOWN_SIDE = 900
CROP_SIDE = 260
REGION_COLOURS = ("#2f6fed", "#12b76a", "#f79009", "#ee46bc", "#06aed4", "#875bf7")
PDF_SECONDS = 120


@dataclass(frozen=True)
class Design:
    """One image of a report: its ``name``, its pixels (H x W x 3 uint8, transparency over
    white as the model saw it) and the predicted density (H x W, any positive scale)."""

    name: str
    rgb: np.ndarray
    density: np.ndarray


@dataclass(frozen=True)
class Findings:
    """What the report says of one :class:`Design`."""

    design: Design
    shares: object  # salmap.regions.AttentionShares
    regions: list  # salmap.regions.Region, as measured
    crops: dict  # aspect -> salmap.cropping.Window
    focus_rank: dict  # reference set -> % of its designs less focused than this one


# -- the reference table ------------------------------------------------------------------------
@lru_cache(maxsize=2)
def reference_table(path: Path = REFERENCE_FILE) -> dict:
    """The shipped table: ``percentiles`` (0-100) and, per set, ``n`` and the concentration at
    each percentile (ascending)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise SalmapError(
            f"{path}: the reference table is missing or broken ({e}); "
            "rebuild it with benchmarks/focus_reference.py"
        ) from None


def less_focused_share(value: float, table: dict | None = None) -> dict[str, float]:
    """Per reference set (and ``all``): the percentage (0-100) of its designs whose half of the
    attention takes a larger part of the image than ``value`` does: how many this one is more
    focused than. Interpolated between the table's percentiles."""
    table = table or reference_table()
    ranks = np.asarray(table["percentiles"], dtype=float)
    out = {}
    for name, entry in table["sets"].items():
        values = np.asarray(entry["values"], dtype=float)
        out[name] = float(100.0 - np.interp(value, values, ranks, left=0.0, right=100.0))
    return out


# -- measuring ---------------------------------------------------------------------------------
def analyse(design: Design, regions=None) -> Findings:
    """The shares of ``regions`` (as :func:`salmap.regions.load_regions` takes them; default a
    3x3 grid), the crops of :data:`salmap.cropping.DEFAULT_ASPECTS` and the focus rank."""
    from salmap.cropping import DEFAULT_ASPECTS, best_windows, parse_aspects
    from salmap.regions import attention_shares, load_regions

    shape = design.density.shape
    try:
        measured = load_regions(REPORT_GRID if regions is None else regions, shape)
    except SalmapError as e:
        raise type(e)(f"{design.name}: {e}") from None
    shares = attention_shares(design.density, measured)
    crops = best_windows(design.density, parse_aspects(DEFAULT_ASPECTS))
    return Findings(design, shares, measured, crops, less_focused_share(shares.concentration))


# -- pictures ----------------------------------------------------------------------------------
def _shown(rgb: np.ndarray, side: int = SHOWN_SIDE) -> np.ndarray:
    """``rgb`` reduced to at most ``side`` pixels on its longer side."""
    from PIL import Image

    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS))


def data_uri(rgb: np.ndarray, fmt: str = "JPEG") -> str:
    from salmap.viz import image_bytes

    mime = "image/png" if fmt == "PNG" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(image_bytes(rgb, fmt)).decode()}"


def heatmap_picture(f: Findings, named: bool) -> np.ndarray:
    """The overlay, named regions outlined in their colours, with its legend below."""
    from salmap.viz import overlay, with_legend

    rgb = overlay(f.design.rgb, f.design.density)
    if named:
        outline_regions(rgb, f.regions)
    return with_legend(_shown(rgb))


def outline_regions(rgb: np.ndarray, regions) -> None:
    """Draw, in place, a band about 1/250 of the shorter side wide along the inside of each
    region's edge, in the region's colour (:data:`REGION_COLOURS`)."""
    from scipy.ndimage import binary_erosion

    width = max(2, round(min(rgb.shape[:2]) / 160))
    for i, r in enumerate(regions):
        colour = [int(REGION_COLOURS[i % len(REGION_COLOURS)][k : k + 2], 16) for k in (1, 3, 5)]
        inner = binary_erosion(np.pad(r.mask, width), iterations=width)[width:-width, width:-width]
        window = rgb[r.window]  # a view: drawing on it draws on rgb
        window[r.mask & ~inner] = colour


# -- HTML --------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if x < 0.1 else f"{100 * x:.0f}%"


def focus_block(f: Findings) -> str:
    table = reference_table()
    c = f.shares.concentration
    n = table["sets"]["all"]["n"]
    per_set = ", ".join(
        f"{f.focus_rank[key]:.0f}% of the {what}" for key, (_, what) in REFERENCE_SETS.items()
    )
    marker = 100 - f.focus_rank["all"]  # the bar: reference designs, most focused first
    return (
        '<div class="focus"><div class="big">'
        f'<span class="num">{_pct(c)}</span><span>of the design holds half of the predicted '
        "attention</span></div>"
        f'<div class="scale"><span style="left:{marker:.1f}%"></span></div>'
        '<div class="ends"><span>the most focused reference designs</span>'
        "<span>the least focused</span></div>"
        f"<p><b>More focused than {f.focus_rank['all']:.0f}% of {n} reference designs</b> "
        f"({html.escape(per_set)}).</p>"
        "<p class=note>Focus is the smallest part of the design, its most looked-at places "
        "first, where half of the predicted attention lands. The smaller it is, the more "
        "viewers' eyes gather on a few places; a design where the eye wanders evenly needs "
        "50%.</p></div>"
    )


def grid_block(f: Findings, rows: int, cols: int) -> str:
    """A grid's shares laid out as the grid."""
    words = {3: ("top", "middle", "bottom"), 2: ("top", "bottom")}
    row_names = words.get(rows, [f"row {i + 1}" for i in range(rows)])
    col_names = {3: ("left", "centre", "right"), 2: ("left", "right")}.get(
        cols, [f"column {j + 1}" for j in range(cols)]
    )
    cells = iter(f.shares.regions)
    body = "".join(
        f"<tr><th>{name}</th>"
        + "".join(f"<td>{_pct(next(cells).attention)}</td>" for _ in range(cols))
        + "</tr>"
        for name in row_names
    )
    head = "".join(f"<th>{c}</th>" for c in col_names)
    return (
        f"<h3>Attention by area</h3><p class=note>The design cut in {rows}×{cols} equal parts, "
        "each with its share of the attention.</p>"
        f'<table class="grid"><tr><th></th>{head}</tr>{body}</table>'
    )


def regions_block(f: Findings, grid: tuple[int, int] | None) -> str:
    """The regions' table: shares of attention and of area (or the grid as a grid)."""
    if grid is not None:
        return grid_block(f, *grid)
    s = f.shares
    rows = ""
    for i, r in enumerate(s.regions):
        swatch = f'<i style="background:{REGION_COLOURS[i % 6]}"></i>'
        ratio = r.attention / r.area if r.area else 0
        rows += (
            f"<tr><th>{swatch}{html.escape(r.name)}</th><td>{_pct(r.attention)}</td>"
            f"<td>{_pct(r.area)}</td><td>{ratio:.1f}×</td></tr>"
        )
    rows += (
        f"<tr class=muted><th>outside all regions</th><td>{_pct(s.outside.attention)}</td>"
        f"<td>{_pct(s.outside.area)}</td><td></td></tr>"
    )
    overlap = (
        "<p class=note>Some regions overlap: attention on shared pixels counts in each.</p>"
        if s.overlaps
        else ""
    )
    return (
        "<h3>Regions</h3><table><tr><th>region</th><th>attention</th><th>area</th>"
        f"<th>attention ÷ area</th></tr>{rows}</table>{overlap}"
    )


def crops_block(f: Findings) -> str:
    figures = ""
    for aspect, win in f.crops.items():
        x0, y0, x1, y1 = win.box
        thumb = data_uri(_shown(f.design.rgb[y0:y1, x0:x1], CROP_SIDE))
        figures += (
            f'<figure><img src="{thumb}" alt="{aspect} crop"><figcaption><b>{aspect}</b> '
            f"{x1 - x0}×{y1 - y0}: keeps {_pct(win.attention)} of the attention</figcaption>"
            "</figure>"
        )
    return f'<h3>Crops that keep the most attention</h3><div class="crops">{figures}</div>'


def design_block(f: Findings, grid: tuple[int, int] | None, index: int) -> str:
    from salmap.viz import fog

    d = f.design
    h, w = d.density.shape
    return (
        f'<section class="design" id="design-{index}"><h2>{html.escape(d.name)} '
        f"<small>{w}×{h} px</small></h2>{focus_block(f)}"
        '<div class="pair"><figure><figcaption>Heatmap: where the eye goes</figcaption>'
        f'<img src="{data_uri(heatmap_picture(f, grid is None))}" alt="heatmap"></figure>'
        "<figure><figcaption>Fog: what a quick look takes in</figcaption>"
        f'<img src="{data_uri(_shown(fog(d.rgb, d.density)))}" alt="fog view">'
        "<p class=note>The part holding 75% of the attention stays clear; the rest fades "
        "with the attention it gets.</p></figure></div>"
        f"{regions_block(f, grid)}{crops_block(f)}</section>"
    )


def comparison_block(found: list[Findings]) -> str:
    """The variants side by side: focus, its rank, each region's share, each crop's share."""
    head = "".join(f"<th>{html.escape(f.design.name)}</th>" for f in found)
    rows = [
        ("Area holding half the attention", [_pct(f.shares.concentration) for f in found]),
        ("More focused than", [f"{f.focus_rank['all']:.0f}% of references" for f in found]),
    ]
    names = [r.name for r in found[0].shares.regions]
    for i, name in enumerate(names):
        values = [_pct(f.shares.regions[i].attention) for f in found]
        rows.append((f"Attention on {name}", values))
    for aspect in found[0].crops:
        rows.append((f"{aspect} crop keeps", [_pct(f.crops[aspect].attention) for f in found]))
    body = "".join(
        f"<tr><th>{html.escape(label)}</th>" + "".join(f"<td>{v}</td>" for v in values) + "</tr>"
        for label, values in rows
    )
    return (
        '<section class="compare"><h2>Variants compared</h2>'
        f"<table><tr><th></th>{head}</tr>{body}</table>"
        "<p class=note>A smaller area for half the attention means a more focused design. "
        "Differences of a point or two are within what the model cannot tell apart.</p>"
        "</section>"
    )


def reference_block() -> str:
    """The reference percentiles of each set (sorted: they rise with the percentile)."""
    table = reference_table()
    shown = (10, 25, 50, 75, 90)
    cols = [table["percentiles"].index(p) for p in shown]
    head = "".join(f"<th>{p}th</th>" for p in shown)
    body = ""
    for key, entry in table["sets"].items():
        values = "".join(f"<td>{100 * entry['values'][c]:.1f}%</td>" for c in cols)
        label = REFERENCE_NAMES.get(key, key)
        body += f"<tr><th>{html.escape(label)} ({entry['n']})</th>{values}</tr>"
    return (
        '<section class="reference"><h2>How to read the focus figure</h2><p>The reference '
        "designs are the BubbleView sets (Kim et al., ACM TOCHI 2017): the percentiles of "
        f"their focus under the same model ({html.escape(table['model'])}).</p>"
        f'<table id="percentiles"><tr><th>percentile</th>{head}</tr>{body}</table></section>'
    )


STYLE = """
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1d2330;
font-size:15px;line-height:1.45}
body{max-width:1100px;margin:0 auto;padding:28px 32px 48px;background:#fff}
header{border-bottom:3px solid #1d2330;padding-bottom:10px;margin-bottom:8px}
h1{font-size:1.7rem;margin:0}h1+p{margin:4px 0 0;color:#667085}
h2{font-size:1.3rem;margin:0 0 12px}h2 small{color:#667085;font-weight:400;font-size:.8rem}
h3{font-size:.85rem;text-transform:uppercase;letter-spacing:.05em;color:#667085;margin:22px 0 8px}
section{padding:26px 0;border-bottom:1px solid #e2e5ea;break-inside:avoid-page}
section.design{break-before:page}section.design:first-of-type{break-before:auto}
.focus{background:#f5f6f8;border-radius:10px;padding:14px 18px;margin-bottom:18px}
.focus .big{display:flex;align-items:baseline;gap:10px}
.focus .num{font-size:2.2rem;font-weight:700;font-variant-numeric:tabular-nums}
.focus p{margin:6px 0 0}
.scale{position:relative;height:10px;border-radius:5px;margin:10px 0 2px;
background:linear-gradient(90deg,#e4572e,#f5c542 50%,#d0d5dd)}
.scale span{position:absolute;top:-4px;width:4px;height:18px;background:#1d2330;
margin-left:-2px;border-radius:2px}
.ends{display:flex;justify-content:space-between;font-size:.75rem;color:#667085}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:18px}
figure{margin:0}img{max-width:100%;display:block;border-radius:4px}
figcaption{font-weight:600;margin-bottom:6px}
.note{color:#667085;font-size:.85rem;margin:6px 0 0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:.92rem}
td,th{padding:5px 12px;border-bottom:1px solid #e2e5ea;text-align:right}
th:first-child{text-align:left;font-weight:500}tr:first-child th{font-weight:650}
tr.muted{color:#667085}th i{display:inline-block;width:11px;height:11px;border-radius:3px;
margin-right:7px;vertical-align:-1px}
table.grid td{width:80px;text-align:center}
.crops{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-end}
.crops figure{max-width:260px}.crops img{max-height:260px;border:1px solid #e2e5ea}
.crops figcaption{font-weight:400;font-size:.85rem;margin:4px 0 0}
footer{color:#667085;font-size:.8rem;padding-top:18px}
@media (max-width:700px){.pair{grid-template-columns:1fr}body{padding:16px}}
@page{size:A4;margin:12mm}
@media print{body{padding:0;max-width:none}.pair{grid-template-columns:1fr 1fr}}
"""


def report_html(
    designs: list[Design], regions=None, model_name: str = "default", title=None
) -> str:
    """The report on ``designs`` (one or more; two or more are compared) as one self-contained
    HTML page. ``regions``: as :func:`salmap.regions.load_regions` takes them, applied to every
    design (default: a 3x3 grid)."""
    from salmap import __version__

    if not designs:
        raise SalmapError("a report needs at least one image")
    found = [analyse(d, regions) for d in designs]
    grid = report_grid(regions)
    title = title or (
        f"Where people look: {designs[0].name}"
        if len(designs) == 1
        else f"Where people look: {len(designs)} variants"
    )
    parts = [comparison_block(found)] if len(found) > 1 else []
    parts += [design_block(f, grid, i) for i, f in enumerate(found)]
    parts.append(reference_block())
    footer = (
        f"<footer>Predicted by salmap {html.escape(__version__)}, model "
        f"{html.escape(model_name)}, on {date.today().isoformat()}. The maps predict where "
        "people look in the first seconds of free viewing; they are a model's estimate, not "
        "a measurement of your audience.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>A saliency report: predicted attention, "
        "focus, regions and crops.</p></header>"
        f"{''.join(parts)}{footer}</body></html>\n"
    )


def report_grid(regions) -> tuple[int, int] | None:
    """(rows, columns) where the report's regions are a grid (the default), else None."""
    from salmap.regions import parse_grid

    text = REPORT_GRID if regions is None else regions
    if isinstance(text, str) and text.lstrip().startswith("grid"):
        return parse_grid(text)
    return None


# -- files -------------------------------------------------------------------------------------
def print_pdf(html_text: str, out: Path) -> None:
    """``html_text`` printed to the PDF ``out`` (A4) by headless Chromium, written atomically;
    a SalmapError where Chromium is missing or fails."""
    from salmap.capture import find_chromium

    browser = find_chromium()
    if browser is None:
        raise SalmapError(
            f"{out}: a PDF is printed by Chromium, which is not installed "
            "(apt-get install chromium); the HTML report holds the same content"
        )
    with tempfile.TemporaryDirectory(prefix="salmap-report-") as tmp:
        page, pdf = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html_text, encoding="utf-8")
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
            f"--user-data-dir={tmp}/profile", f"--print-to-pdf={pdf}", page.as_uri(),
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, timeout=PDF_SECONDS)
        except subprocess.TimeoutExpired:
            raise SalmapError(f"{out}: Chromium did not print within {PDF_SECONDS} s") from None
        if not pdf.is_file() or pdf.read_bytes()[:5] != b"%PDF-":
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise SalmapError(f"{out}: Chromium did not print a PDF ({tail[0]})")
        atomic_write_bytes(Path(out), pdf.read_bytes())


def read_designs(paths, model=None, regions=None) -> list[Design]:
    """Each image file with its predicted map; the files, and ``regions`` on each image, are
    checked before the model loads."""
    from salmap.cropping import predictor
    from salmap.data.images import to_rgb_array
    from salmap.regions import load_regions

    images = []
    for path in paths:
        if not Path(path).is_file():
            raise SalmapError(f"{path}: no such image file")
        images.append((Path(path).name, to_rgb_array(path)))
        if regions is not None:
            try:
                load_regions(regions, images[-1][1].shape[:2])
            except SalmapError as e:
                raise type(e)(f"{path}: {e}") from None
    names = [n for n, _ in images]
    if len(set(names)) != len(names):  # variants in different folders: keep them apart
        names = [str(p) for p in paths]
    model = predictor(model)
    return [Design(n, rgb, model.predict(rgb)) for n, (_, rgb) in zip(names, images)]
