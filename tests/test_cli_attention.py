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
