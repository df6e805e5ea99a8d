import numpy as np
import pytest

import salmap
from salmap.cropping import Window, best_window, parse_aspect, parse_aspects, window_size
from salmap.errors import SalmapError

ASPECTS = ["1:1", "16:9", "4:5", "9:16", "1.91:1", "3:1"]


def brute_force(density: np.ndarray, w: int, h: int) -> tuple[float, set]:
    """Best mass and every placement (x0, y0) reaching it, by summing each window directly."""
    H, W = density.shape
    sums = np.array(
        [[density[y : y + h, x : x + w].sum() for x in range(W - w + 1)] for y in range(H - h + 1)]
    )
    best = sums.max()
    ys, xs = np.nonzero(np.isclose(sums, best, rtol=0, atol=1e-9 * density.sum()))
    return best, set(zip(xs.tolist(), ys.tolist()))


@pytest.mark.parametrize("seed", range(12))
def test_window_search_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    H, W = rng.integers(1, 24, size=2)
    density = rng.random((H, W)) ** 4  # peaky, so that a best window stands out
    aspect = ASPECTS[seed % len(ASPECTS)]
    zoom = [1.0, 0.5, 0.3][seed % 3]
    win = best_window(density, aspect, zoom)
    w, h = window_size(W, H, aspect, zoom)
    best, argmaxes = brute_force(density, w, h)
    assert win.size == (w, h)
    assert (win.box[0], win.box[1]) in argmaxes
    assert win.attention == pytest.approx(best / density.sum(), abs=1e-12)


def test_ties_go_to_the_centre():
    win = best_window(np.ones((9, 21)), "1:1", 0.5)  # every placement holds the same mass
    assert win.box == (8, 2, 13, 7)  # 5x5, centred
    # two equal peaks either side: the window that holds one of them and sits nearer the centre
    d = np.zeros((10, 30))
    d[5, 3] = d[5, 26] = 1.0
    win = best_window(d, "1:1", 1.0)
    assert win.attention == 0.5 and win.box in {(3, 0, 13, 10), (17, 0, 27, 10)}
    # a uniform map that does not centre exactly: both nearest placements are acceptable
    win = best_window(np.ones((4, 9)), "1:1")
    assert win.box in {(2, 0, 6, 4), (3, 0, 7, 4)}


@pytest.mark.parametrize("width,height", [(1, 1), (2000, 12), (12, 2000), (480, 640), (640, 480)])
@pytest.mark.parametrize("aspect", ASPECTS)
@pytest.mark.parametrize("zoom", [1.0, 0.5, 0.01])
def test_boxes_have_the_ratio_and_lie_inside(width, height, aspect, zoom):
    density = np.random.default_rng(width * height).random((height, width))
    win = best_window(density, aspect, zoom)
    x0, y0, x1, y1 = win.box
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    w, h = x1 - x0, y1 - y0
    aw, ah = parse_aspect(aspect)
    ratio = aw / ah
    # the dependent side is the nearest pixel to the exact ratio, unless clamped to 1 pixel
    # or to the image's side
    assert abs(w - h * ratio) <= 0.5 + 1e-9 or abs(h - w / ratio) <= 0.5 + 1e-9 or min(w, h) == 1
    if zoom == 1.0:  # the largest window touches two opposite sides of the image
        assert w == width or h == height
    assert 0 <= win.attention <= 1


def test_window_size_is_the_largest_that_fits_times_zoom():
    assert window_size(1920, 1080, "16:9") == (1920, 1080)
    assert window_size(1920, 1080, "1:1") == (1080, 1080)
    assert window_size(1920, 1080, "9:16") == (608, 1080)  # 1080 * 9 / 16 = 607.5 -> 608
    assert window_size(1920, 1080, "1:1", 0.5) == (540, 540)
    assert window_size(1080, 1920, "16:9") == (1080, 608)
    assert window_size(1, 1, "16:9") == (1, 1)
    assert window_size(2000, 12, "9:16") == (7, 12)


@pytest.mark.parametrize("corner", ["tl", "tr", "bl", "br"])
@pytest.mark.parametrize("aspect", ["1:1", "16:9", "9:16"])
def test_mass_in_a_corner_gives_a_window_touching_it(corner, aspect):
    d = np.full((60, 90), 1e-6)
    ys = slice(0, 3) if corner[0] == "t" else slice(-3, None)
    xs = slice(0, 3) if corner[1] == "l" else slice(-3, None)
    d[ys, xs] = 1.0
    x0, y0, x1, y1 = best_window(d, aspect, 0.5).box
    assert (y0 == 0) if corner[0] == "t" else (y1 == 60)
    assert (x0 == 0) if corner[1] == "l" else (x1 == 90)


def test_zero_map_is_read_as_uniform():
    win = best_window(np.zeros((10, 20)), "1:1")
    assert win.box == (5, 0, 15, 10) and win.attention == pytest.approx(0.5)


@pytest.mark.parametrize("text", ["0:1", "16:0", "abc", "", "16", "16:9:1", "-1:2", "1:-2", "1/2"])
def test_bad_aspects_are_refused_naming_them(text):
    with pytest.raises(SalmapError, match="aspect ratio"):
        parse_aspect(text)


def test_aspect_parsing():
    assert parse_aspect("16:9") == (16, 9)
    assert parse_aspect(" 1.91 : 1 ") == (1.91, 1)
    assert parse_aspects("1:1, 16:9") == ["1:1", "16:9"]
    with pytest.raises(SalmapError, match="abc"):
        parse_aspects("1:1,abc")


@pytest.mark.parametrize(
    "density,match",
    [
        (np.ones(5), "H x W"),
        (np.ones((0, 4)), "H x W"),
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.array([[1.0, -1.0]]), "negative"),
    ],
)
def test_bad_maps_are_refused(density, match):
    with pytest.raises(SalmapError, match=match):
        best_window(density, "1:1")


@pytest.mark.parametrize("zoom", [0, -0.5, 1.5])
def test_bad_zoom_is_refused(zoom):
    with pytest.raises(SalmapError, match="zoom"):
        best_window(np.ones((4, 4)), "1:1", zoom)


def test_package_exposes_the_functions():
    assert salmap.best_window is best_window
    win = salmap.best_window(np.eye(8), "1:1", 0.25)
    assert isinstance(win, Window) and win.to_dict()["box"] == list(win.box)
    assert callable(salmap.crop) and callable(salmap.attention)


def test_every_preview_box_shows_on_a_white_design():
    """The box colours of salmap crop's preview and of the page: none white or near it (the
    9:16 box was white, invisible on white designs)."""
    from salmap.cropping import PREVIEW_COLOURS

    for colour in PREVIEW_COLOURS:
        assert min(colour) < 100, colour  # far from white in at least one channel
