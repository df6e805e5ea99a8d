import json

import numpy as np
import pytest
from PIL import Image

from salmap.errors import SalmapError
from salmap.regions import (
    attention_shares,
    concentration,
    grid_regions,
    load_regions,
    parse_grid,
)


@pytest.fixture
def density():
    return np.random.default_rng(0).random((40, 60)) ** 3


@pytest.mark.parametrize("grid", ["1x1", "3x3", "2x5", "grid 4x7", "40x60"])
def test_grid_shares_sum_to_one(density, grid):
    result = attention_shares(density, grid)
    rows, cols = parse_grid(grid)
    assert len(result.regions) == rows * cols
    assert sum(s.attention for s in result.regions) == pytest.approx(1.0, abs=1e-12)
    assert sum(s.area for s in result.regions) == pytest.approx(1.0, abs=1e-12)
    assert result.outside.attention == pytest.approx(0.0, abs=1e-12) and not result.overlaps


def test_box_shares_match_the_map(density):
    total = density.sum()
    result = attention_shares(density, {"logo": [10, 5, 30, 25], "right": [30, 0, 60, 40]})
    logo, right = result.regions
    assert logo.name == "logo" and logo.attention == pytest.approx(
        density[5:25, 10:30].sum() / total
    )
    assert logo.area == pytest.approx(20 * 20 / (40 * 60))
    assert right.attention == pytest.approx(density[:, 30:].sum() / total)
    outside = density.sum() - density[5:25, 10:30].sum() - density[:, 30:].sum()
    assert result.outside.attention == pytest.approx(outside / total)
    assert not result.overlaps


def test_overlaps_are_reported_and_counted_in_both(density):
    total = density.sum()
    result = attention_shares(
        density, {"a": [0, 0, 30, 20], "b": [20, 10, 60, 40], "c": [0, 30, 5, 40]}
    )
    assert [o.regions for o in result.overlaps] == [("a", "b")]
    assert result.overlaps[0].attention == pytest.approx(density[10:20, 20:30].sum() / total)
    union = np.zeros_like(density, dtype=bool)
    union[0:20, 0:30] = union[10:40, 20:60] = union[30:40, 0:5] = True
    assert result.outside.attention == pytest.approx(density[~union].sum() / total)
    assert "overlap: a and b" in result.table()


def test_polygon_is_the_pixels_whose_centres_lie_inside():
    d = np.ones((10, 10))
    # the triangle below the diagonal of the top-left 4x4 square: centres (x+.5, y+.5), y > x
    result = attention_shares(
        d, {"tri": [[0, 0], [0, 4], [4, 4]], "square": [[0, 0], [4, 0], [4, 4], [0, 4]]}
    )
    tri, square = result.regions
    assert square.area == pytest.approx(16 / 100)
    assert tri.area == pytest.approx(6 / 100)  # strictly below the diagonal: 0+1+2+3
    assert [o.regions for o in result.overlaps] == [("tri", "square")]


def test_label_image(tmp_path, density):
    labels = np.zeros((40, 60), dtype=np.uint8)
    labels[:10, :10] = 1
    labels[20:, 30:] = 7
    Image.fromarray(labels).save(tmp_path / "labels.png")
    result = attention_shares(density, tmp_path / "labels.png")
    assert [s.name for s in result.regions] == ["1", "7"]
    total = density.sum()
    assert result.regions[1].attention == pytest.approx(density[20:, 30:].sum() / total)
    rgb = np.zeros((40, 60, 3), dtype=np.uint8)
    rgb[:10, :10] = (255, 0, 0)
    Image.fromarray(rgb).save(tmp_path / "colours.png")
    result = attention_shares(density, str(tmp_path / "colours.png"))
    assert [s.name for s in result.regions] == ["#ff0000"]


def test_regions_json_file(tmp_path, density):
    path = tmp_path / "regions.json"
    path.write_text(json.dumps({"logo": [0, 0, 10, 10]}))
    assert attention_shares(density, path).regions[0].name == "logo"


def test_concentration():
    assert concentration(np.ones((10, 10))) == pytest.approx(0.5)
    peak = np.zeros((10, 10))
    peak[3, 4] = 1.0
    assert concentration(peak) == pytest.approx(0.01)
    two = np.zeros((10, 10))
    two[0, 0], two[9, 9] = 0.6, 0.4
    assert concentration(two) == pytest.approx(0.01)  # the 0.6 pixel alone holds half


@pytest.mark.parametrize(
    "regions,match",
    [
        ({"logo": [50, 30, 70, 45]}, "'logo'.*outside the 60x40 image"),
        ({"logo": [-1, 0, 10, 10]}, "'logo'.*outside"),
        ({"poly": [[0, 0], [70, 0], [0, 10]]}, "'poly'.*outside"),
        ({"logo": [10, 10, 5, 20]}, "'logo'.*x0 < x1"),
        ({"logo": [1, 2, 3]}, "'logo'.*box is"),
        ({"logo": "here"}, "'logo'.*box is"),
        ({"line": [[0, 0], [5, 5]]}, "'line'.*at least 3"),
        ({"dot": [10.1, 10.1, 10.2, 10.2]}, "'dot' covers no pixel"),
        ({}, "named regions"),
        (["a", "b"], "no such regions file"),
        ("0x3", "at least one row"),
        ("50x3", "more cells"),
        ("nowhere.json", "no such regions file"),
    ],
)
def test_bad_regions_are_refused_naming_them(density, regions, match):
    with pytest.raises(SalmapError, match=match):
        attention_shares(density, regions)


def test_bad_region_files_are_refused_naming_them(tmp_path, density):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SalmapError, match="bad.json"):
        attention_shares(density, bad)
    small = tmp_path / "small.png"
    Image.fromarray(np.ones((10, 10), np.uint8)).save(small)
    with pytest.raises(SalmapError, match="small.png.*10x10 but the image is 60x40"):
        attention_shares(density, small)
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(empty)
    with pytest.raises(SalmapError, match="no non-zero label"):
        attention_shares(density, empty)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(SalmapError, match="junk.png"):
        attention_shares(density, junk)


def test_grid_cells_tile_the_image():
    regions = grid_regions(3, 4, (10, 11))
    cover = np.zeros((10, 11), int)
    for r in regions:
        cover[r.window] += r.mask
    assert (cover == 1).all() and regions[0].name == "r1c1" and regions[-1].name == "r3c4"
    assert len(load_regions("3x4", (10, 11))) == 12
