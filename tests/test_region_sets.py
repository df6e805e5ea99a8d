import json

import numpy as np
import pytest

from salmap.errors import SalmapError
from salmap.region_sets import RegionSet, Shape, region_set
from salmap.regions import (
    SHARE_TOLERANCE,
    attention_shares,
    compare_table,
    csv_rows,
    leader,
    load_regions,
)

CURRENT = {
    "units": "px",
    "size": [60, 40],
    "regions": [
        {"name": "logo", "box": [0, 0, 20, 10]},
        {"name": "cta", "polygon": [[30, 20], [60, 20], [60, 40]]},
    ],
}


@pytest.fixture
def density():
    return np.random.default_rng(0).random((40, 60)) ** 3


def test_round_trip_writes_the_current_form():
    regions = region_set(CURRENT)
    assert regions.units == "px" and regions.size == (60, 40)
    assert [s.kind for s in regions.shapes] == ["box", "polygon"]
    assert regions.to_dict() == CURRENT
    assert region_set(json.loads(json.dumps(regions.to_dict()))) == regions


def test_the_older_form_reads_as_pixels_and_gives_the_same_shares(density):
    old = {"logo": [0, 0, 20, 10], "cta": [[30, 20], [60, 20], [60, 40]]}
    regions = region_set(old)
    assert regions.units == "px" and regions.size is None
    assert regions.to_dict()["regions"] == CURRENT["regions"]
    assert attention_shares(density, old).to_dict() == attention_shares(density, CURRENT).to_dict()


def test_a_fraction_template_fits_every_size(density):
    template = {"units": "fraction", "regions": [{"name": "left", "box": [0, 0, 0.5, 1]}]}
    for shape in [(40, 60), (20, 30), (40, 100)]:
        d = np.resize(density, shape)
        result = attention_shares(d, template)
        left = d[:, : shape[1] // 2].sum() / d.sum()
        assert result.regions[0].attention == pytest.approx(left)
        assert result.regions[0].area == pytest.approx(0.5) and result.note is None


def test_a_pixel_set_on_another_size_is_scaled_and_says_so(density):
    # drawn on a 120x80 image: on this 60x40 one the box is halved
    drawn = {"units": "px", "size": [120, 80], "regions": [{"name": "logo", "box": [0, 0, 40, 20]}]}
    result = attention_shares(density, drawn)
    assert result.regions[0].attention == pytest.approx(density[:10, :20].sum() / density.sum())
    assert "drawn on a 120x80 image were scaled to this 60x40 image" in result.note
    assert "stretched" not in result.note
    assert result.to_dict()["note"] == result.note and result.note in result.table()
    wide = {**drawn, "size": [240, 80]}
    assert "aspect ratios differ" in attention_shares(density, wide).note
    same = {**drawn, "size": [60, 40]}
    assert attention_shares(density, same).note is None


def test_scaling_keeps_polygons_and_names():
    regions = RegionSet((Shape("tri", "polygon", ((0, 0), (10, 0), (0, 10))),), "px", (20, 20))
    pixels, note = regions.in_pixels((40, 40))
    assert pixels.shapes[0].points == ((0, 0), (20, 0), (0, 20)) and pixels.size == (40, 40)
    assert "x2 wide, x2 high" in note


@pytest.mark.parametrize(
    "spec,match",
    [
        ({"units": "cm", "regions": [{"name": "a", "box": [0, 0, 1, 1]}]}, "units is 'cm'"),
        ({"units": "px", "regions": []}, "region list is empty"),
        ({"units": "px", "regions": [{"box": [0, 0, 1, 1]}]}, "region 1 .* needs a 'name'"),
        ({"units": "px", "regions": [{"name": "a"}]}, "'a' needs one of 'box' or 'polygon'"),
        ({"units": "px", "regions": [{"name": "a", "box": [0, 0, 1]}]}, "'a': a box is"),
        ({"units": "px", "regions": [{"name": "a", "polygon": [[0, 0]]}]}, "'a': a polygon is"),
        ({"units": "px", "size": [0, 5], "regions": [{"name": "a", "box": [0, 0, 1, 1]}]}, "size"),
        (
            {"units": "fraction", "regions": [{"name": "a", "box": [0, 0, 2, 1]}]},
            "'a': box \\[0, 0, 2, 1\\] is in fractions",
        ),
        (
            {"units": "px", "regions": [{"name": "a", "box": [0, 0, 1, 1]}] * 2},
            "names must be unique",
        ),
        ({"units": "px"}, "expected named regions"),
        ([1, 2], "expected named regions"),
    ],
)
def test_bad_sets_are_refused_naming_the_problem(spec, match):
    with pytest.raises(SalmapError, match=match):
        region_set(spec)


def test_bad_files_name_the_file(tmp_path, density):
    for name, text, match in [
        ("bad.json", "{not json", "bad.json: not readable as JSON"),
        ("units.json", json.dumps({"units": "in", "regions": []}), "units.json: units is 'in'"),
        (
            "out.json",
            json.dumps({"units": "px", "regions": [{"name": "a", "box": [0, 0, 99, 9]}]}),
            "out.json: region 'a': box \\[0, 0, 99, 9\\] reaches outside the 60x40 image",
        ),
    ]:
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(SalmapError, match=match):
            load_regions(path, density.shape)


def test_leader_needs_a_lead_larger_than_the_tolerance():
    assert leader([0.921, 0.920]) is None  # within the tolerance: even
    assert leader([0.5, 0.5 + SHARE_TOLERANCE + 0.001]) == 1
    assert leader([0.30, 0.10, 0.29]) is None  # the first leads the third by 0.01 only
    assert leader([0.30, 0.10, 0.20], higher=False) == 1
    assert leader([0.3, None]) is None and leader([0.3]) is None


def test_compare_table_and_csv_rows(density):
    spec = {"units": "fraction", "regions": [{"name": "top", "box": [0, 0, 1, 0.5]}]}
    flat = np.ones_like(density)
    peaked = flat.copy()
    peaked[:5, :5] = 100.0
    results = {"a.png": attention_shares(flat, spec), "b.png": attention_shares(peaked, spec)}
    table = compare_table(results).splitlines()
    top = next(line for line in table if line.startswith("top"))
    assert top.split() == ["top", "50.0%", "75.4%*"]  # b leads: its peak (2500 of 4875) is on top
    assert any(line.startswith("(1) a.png") for line in table)
    rows = csv_rows("b.png", results["b.png"])
    assert [r["region"] for r in rows] == ["top", "(outside all regions)"]
    assert rows[0]["attention"] + rows[1]["attention"] == pytest.approx(1)
    assert rows[0]["area"] == 0.5 and rows[0]["width"] == 60
