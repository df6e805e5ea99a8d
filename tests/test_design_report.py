"""``salmap design-report`` and :mod:`salmap.design_report`: one self-contained HTML file per
report, its sections, the focus reference table, the PDF, and the errors of the command."""

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from salmap import design_report as D
from salmap.capture import find_chromium
from salmap.cli import main

CHROMIUM = find_chromium()


@pytest.fixture
def variants(tmp_path):
    paths = []
    for k in range(2):
        y, x = np.mgrid[0:48, 0:64]
        rgb = np.dstack([x * 4, y * 5, (x + y) * (2 + k)]).astype(np.uint8)
        rgb[10:20, 30 + 10 * k : 45 + 10 * k] = 255  # a bright block, moved in the second
        path = tmp_path / f"variant_{'ab'[k]}.png"
        Image.fromarray(rgb).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def regions(tmp_path):
    path = tmp_path / "regions.json"
    path.write_text(json.dumps({"logo": [0, 0, 20, 10], "button": [[30, 30], [60, 30], [60, 45]]}))
    return path


def report(tiny_saved_model, *args) -> int:
    return main(["design-report", *map(str, args), "--model", str(tiny_saved_model)])


def table_rows(page: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    return [re.findall(r"<td>(.*?)</td>", r) for r in rows[1:]]  # below the heading


def test_report_is_one_self_contained_file_with_every_section(
    tiny_saved_model, variants, regions, tmp_path
):
    out = tmp_path / "report.html"
    assert report(tiny_saved_model, *variants, "--regions", regions, "--out", out) == 0
    page = out.read_text()
    # nothing fetched: no http(s) source, link or CSS url; every picture is a data URI
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "url(" not in page and "@import" not in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/") for s in sources)
    # per variant: heatmap, fog, and the four crops of salmap crop's default aspect ratios
    assert len(sources) == 2 * (2 + 4)
    for words in (
        "Variants compared",
        "Heatmap: where the eye goes",
        "Fog: what a quick look takes in",
        "of the design holds half of the predicted attention",
        "More focused than",
        "Crops that keep the most attention",
        "outside all regions",
    ):
        assert words in page, words
    assert page.count('<section class="design"') == 2
    for name in ("variant_a.png", "variant_b.png", "logo", "button", "9:16 crop keeps"):
        assert name in page


def test_percentile_table_is_present_and_sorted(tiny_saved_model, variants, tmp_path):
    out = tmp_path / "one.html"
    assert report(tiny_saved_model, variants[0], "--out", out) == 0
    page = out.read_text()
    rows = table_rows(page, "percentiles")
    assert len(rows) == 3  # graphic designs, charts, both
    for cells in rows:
        values = [float(c.rstrip("%")) for c in cells]
        assert values == sorted(values) and values[0] < values[-1]
    assert "Variants compared" not in page  # one image: nothing to compare
    assert "The design cut in 3×3 equal parts" in page  # no regions: the grid


def test_shipped_reference_table_is_small_sorted_and_ranks_as_it_says():
    assert D.REFERENCE_FILE.stat().st_size < 1200
    table = D.reference_table()
    assert set(table["sets"]) == {*D.REFERENCE_SETS, "all"}
    assert table["sets"]["all"]["n"] == sum(table["sets"][k]["n"] for k in D.REFERENCE_SETS)
    for entry in table["sets"].values():
        assert entry["values"] == sorted(entry["values"])
    median = table["sets"]["all"]["values"][table["percentiles"].index(50)]
    assert D.less_focused_share(median)["all"] == pytest.approx(50)
    assert D.less_focused_share(0.0)["all"] == 100  # more focused than every reference
    assert D.less_focused_share(0.5)["all"] == 0  # uniform: focused less than any
    ranks = [D.less_focused_share(c)["designs"] for c in np.linspace(0, 0.5, 30)]
    assert ranks == sorted(ranks, reverse=True)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--out", "report.txt"], ["report.txt", ".html or .pdf"]),
        (["--out", "missing/report.html"], ["missing", "does not exist"]),
        (["--regions", "nope.json", "--out", "r.html"], ["nope.json", "no such regions file"]),
        (["--grid", "3by3", "--out", "r.html"], ["3by3", "RxC"]),
    ],
)
def test_bad_arguments_are_named(tiny_saved_model, variants, tmp_path, capsys, args, words):
    args = [str(tmp_path / a) if a.endswith((".txt", ".html", ".json")) else a for a in args]
    assert report(tiny_saved_model, variants[0], *args) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, err
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob("missing"))


def test_missing_image_regions_outside_and_existing_output(
    tiny_saved_model, variants, tmp_path, capsys
):
    out = tmp_path / "report.html"
    assert report(tiny_saved_model, tmp_path / "gone.png", "--out", out) == 2
    assert "gone.png: no such image file" in capsys.readouterr().err
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"hero": [0, 0, 200, 100]}))
    assert report(tiny_saved_model, *variants, "--regions", big, "--out", out) == 2
    err = capsys.readouterr().err
    assert "variant_a.png" in err and "'hero'" in err and "outside the 64x48 image" in err
    assert not out.exists()  # nothing written when the report fails
    out.write_text("earlier")
    assert report(tiny_saved_model, variants[0], "--out", out) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "earlier"
    assert report(tiny_saved_model, variants[0], "--out", out, "--overwrite") == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_pdf_without_chromium_is_a_clear_error(variants, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = tmp_path / "report.html"
    # checked before any work: the model named here is never loaded
    assert (
        main(["design-report", str(variants[0]), "--out", str(out), "--pdf", "--model", "x"]) == 2
    )
    err = capsys.readouterr().err
    assert "report.pdf" in err and "Chromium, which is not installed" in err
    assert not out.exists()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found (apt-get install chromium)")
def test_pdf_is_printed_by_chromium(tiny_saved_model, variants, tmp_path):
    out = tmp_path / "report.pdf"
    assert report(tiny_saved_model, *variants, "--out", out) == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 10_000
    assert not (tmp_path / "report.html").exists()  # the PDF alone was asked for
    assert list(tmp_path.glob("*.pdf")) == [out]  # no temporary file left beside it
