import json

import numpy as np
import pytest
from PIL import Image

import salmap
from salmap.cli import main
from salmap.regions import attention_shares


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "design.png"
    y, x = np.mgrid[0:48, 0:64]
    Image.fromarray(np.dstack([x * 4, y * 5, (x + y) * 2]).astype(np.uint8)).save(path)
    return path


def run_json(capsys, *args) -> dict:
    assert main(["attention", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_regions_json_matches_the_library(tiny_saved_model, image, tmp_path, capsys):
    spec = {
        "logo": [0, 0, 20, 10],
        "button": [[30, 30], [60, 30], [60, 45]],
        "big": [10, 5, 40, 40],
    }
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps(spec))
    got = run_json(capsys, image, "--regions", regions, "--model", tiny_saved_model)
    density = salmap.load_model(tiny_saved_model).predict(image)
    expected = attention_shares(density, spec).to_dict()
    assert got["image"] == str(image)
    assert list(got["regions"]) == ["logo", "button", "big"]
    for name, share in expected["regions"].items():
        assert got["regions"][name] == pytest.approx(share, abs=1e-5)
    assert got["outside"]["attention"] == pytest.approx(expected["outside"]["attention"], abs=1e-5)
    pairs = [tuple(o["regions"]) for o in got["overlaps"]]
    assert pairs == [("logo", "big"), ("button", "big")]
    assert 0 < got["concentration"] <= 0.5 + 1e-6


def test_grid_table_and_json(tiny_saved_model, image, capsys):
    got = run_json(capsys, image, "--grid", "2x3", "--model", tiny_saved_model)
    assert len(got["regions"]) == 6
    assert sum(r["attention"] for r in got["regions"].values()) == pytest.approx(1, abs=1e-5)
    assert main(["attention", str(image), "--model", str(tiny_saved_model)]) == 0
    table = capsys.readouterr().out
    assert "r3c3" in table and "(outside all regions)" in table and "concentration" in table


def test_label_png(tiny_saved_model, image, tmp_path, capsys):
    labels = np.zeros((48, 64), np.uint8)
    labels[:24] = 3
    Image.fromarray(labels).save(tmp_path / "labels.png")
    got = run_json(capsys, image, "--regions", tmp_path / "labels.png", "--model", tiny_saved_model)
    top = got["regions"]["3"]["attention"]
    assert top + got["outside"]["attention"] == pytest.approx(1, abs=1e-5)


@pytest.mark.parametrize(
    "spec,message",
    [
        (
            {"logo": [50, 40, 70, 50]},
            "region 'logo': box [50, 40, 70, 50] reaches outside the 64x48 image",
        ),
        ({"cta": [[0, 0], [10, 0], [10, 60]]}, "region 'cta': polygon reaches outside"),
        ({"logo": [5, 5, 1, 9]}, "region 'logo'"),
    ],
)
def test_bad_regions_exit_2_naming_the_region(
    tiny_saved_model, image, tmp_path, capsys, spec, message
):
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps(spec))
    code = main(
        ["attention", str(image), "--regions", str(regions), "--model", str(tiny_saved_model)]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert f"{regions}: region" in err  # the file is named too


@pytest.mark.parametrize(
    "args,message",
    [
        (["--grid", "3"], "'3'"),
        (["--grid", "0x2"], "at least one row"),
        (["--regions", "missing.json"], "missing.json: no such regions file"),
    ],
)
def test_bad_options_exit_2(tiny_saved_model, image, capsys, args, message):
    code = main(["attention", str(image), *args, "--model", str(tiny_saved_model)])
    assert code == 2 and message in capsys.readouterr().err


def test_unreadable_image_exits_2_naming_it(tiny_saved_model, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    assert main(["attention", str(bad), "--model", str(tiny_saved_model)]) == 2
    assert "bad.jpg" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: --regions and --grid together
        main(["attention", str(bad), "--grid", "2x2", "--regions", "r.json"])


def variant(path, shift: int, size=(64, 48)):
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    Image.fromarray(np.dstack([(x + shift) * 4, y * 5, (x + y) * 2]).astype(np.uint8)).save(path)
    return path


def test_many_images_one_template_table_and_csv(tiny_saved_model, image, tmp_path, capsys):
    import csv

    other = variant(tmp_path / "other.png", 20)
    wide = variant(tmp_path / "wide.png", 0, (128, 48))
    template = {
        "units": "fraction",
        "regions": [
            {"name": "headline", "box": [0, 0, 1, 0.25]},
            {"name": "cta", "polygon": [[0.5, 0.5], [1, 0.5], [1, 1]]},
        ],
    }
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps(template))
    out = tmp_path / "shares.csv"
    args = [image, other, wide, "--regions", regions, "--csv", out, "--model", tiny_saved_model]
    assert main(["attention", *map(str, args)]) == 0
    printed = capsys.readouterr().out
    assert "(1) " + str(image) in printed and "(3) " + str(wide) in printed
    assert "leads every other image by more than 0.02 of the attention (2 percentage" in printed
    rows = list(csv.DictReader(out.open()))
    assert [r["image"] for r in rows] == [str(p) for p in (image, other, wide) for _ in range(3)]
    assert [r["region"] for r in rows[:3]] == ["headline", "cta", "(outside all regions)"]
    model = salmap.load_model(tiny_saved_model)
    for path, first in [(image, rows[0]), (wide, rows[6])]:
        expected = attention_shares(model.predict(path), template).regions[0]
        assert float(first["attention"]) == pytest.approx(expected.attention, abs=1e-5)
        assert float(first["area"]) == pytest.approx(0.25)
    assert rows[6]["width"] == "128" and all(r["note"] == "" for r in rows)
    got = json.loads(
        main(["attention", *map(str, args), "--json"]) == 0 and capsys.readouterr().out
    )
    assert [g["image"] for g in got] == [str(image), str(other), str(wide)]


def test_a_pixel_template_on_another_size_is_scaled_with_a_note(
    tiny_saved_model, image, tmp_path, capsys
):
    big = variant(tmp_path / "big.png", 0, (128, 96))
    drawn = {"units": "px", "size": [64, 48], "regions": [{"name": "logo", "box": [0, 0, 32, 24]}]}
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps(drawn))
    out = tmp_path / "shares.csv"
    args = [image, big, "--regions", regions, "--csv", out, "--model", tiny_saved_model]
    assert main(["attention", *map(str, args)]) == 0
    printed = capsys.readouterr().out
    assert "note: regions drawn on a 64x48 image were scaled to this 128x96 image" in printed
    text = out.read_text()
    assert text.count("scaled to this 128x96") == 2 and "design.png,64,48,logo" in text
    assert "0.25" in text.splitlines()[3]  # big.png's logo: a quarter of its area


def test_many_images_fail_before_the_model_naming_the_image(
    tiny_saved_model, image, tmp_path, capsys
):
    small = variant(tmp_path / "small.png", 0, (32, 24))
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps({"logo": [0, 0, 60, 40]}))  # older form: pixels, no size
    out = tmp_path / "shares.csv"
    code = main(
        ["attention", str(image), str(small), "--regions", str(regions), "--csv", str(out),
         "--model", "no-such-model"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and f"{small}: {regions}: region 'logo'" in err and "32x24" in err
    assert not out.exists()
    code = main(["attention", str(image), str(image), "--model", str(tiny_saved_model)])
    assert code == 2 and "given twice" in capsys.readouterr().err
    code = main(["attention", str(image), str(tmp_path / "gone.png"), "--model", "x"])
    assert code == 2 and "gone.png: no such image" in capsys.readouterr().err
