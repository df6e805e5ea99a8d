"""best_window's composition, cut penalty and keep boxes; best_windows; crop's options."""

import math

import numpy as np
import pytest

import salmap
from salmap.cropping import BORDER, TOLERANCE, best_window, best_windows, window_size
from salmap.errors import SalmapError


def brute_force(density, w, h, composition, tolerance, border, keep=()):
    """(x0, y0) chosen by best_window's rule, every placement and every sum written out as
    Python loops: the placements holding within ``tolerance`` of the heaviest mass are the
    candidates; each scores its mass less ``border * sqrt(w h)`` times what the four edges
    cut (min of the excess over the mean on both sides of each edge pixel, 0 outside); the
    candidates within ``tolerance`` of the heaviest mass of the best score among them are
    framed by the centre of mass of that excess; equal framing goes to the image centre, then
    row order."""
    H, W = density.shape
    total = density.sum()
    mean = total / density.size
    p = [[max(density[y, x] - mean, 0.0) for x in range(W)] for y in range(H)]

    def at(y, x):
        return p[y][x] if 0 <= y < H and 0 <= x < W else 0.0

    found = []
    for y0 in range(H - h + 1):
        for x0 in range(W - w + 1):
            if any(
                not (x0 <= k[0] and y0 <= k[1] and k[2] <= x0 + w and k[3] <= y0 + h) for k in keep
            ):
                continue
            mass = salient = mx = my = 0.0
            for y in range(y0, y0 + h):
                for x in range(x0, x0 + w):
                    mass += density[y, x]
                    salient += p[y][x]
                    mx += (x + 0.5) * p[y][x]
                    my += (y + 0.5) * p[y][x]
            cut = 0.0
            for x in range(x0, x0 + w):
                cut += min(at(y0 - 1, x), at(y0, x)) + min(at(y0 + h - 1, x), at(y0 + h, x))
            for y in range(y0, y0 + h):
                cut += min(at(y, x0 - 1), at(y, x0)) + min(at(y, x0 + w - 1), at(y, x0 + w))
            cx, cy = (mx / salient, my / salient) if salient > 0 else (x0 + w / 2, y0 + h / 2)
            if composition == "centre":
                points = [(x0 + w / 2, y0 + h / 2)]
            else:
                points = [
                    (x0 + fx * w, y0 + fy * h) for fx in (1 / 3, 2 / 3) for fy in (1 / 3, 2 / 3)
                ]
            off = min(math.hypot(cx - px, cy - py) for px, py in points)
            centre = (x0 + w / 2 - W / 2) ** 2 + (y0 + h / 2 - H / 2) ** 2
            found.append((mass - border * math.sqrt(w * h) * cut, mass, off, centre, x0, y0))
    heaviest = max(f[1] for f in found)
    slack = tolerance * heaviest + 1e-9 * total
    candidates = [f for f in found if f[1] >= heaviest - slack]
    best = max(f[0] for f in candidates)
    near = [f for f in candidates if f[0] >= best - slack]
    framed = min(f[2] for f in near)
    chosen = [f for f in near if f[2] <= framed + 1e-6]
    centre = min(f[3] for f in chosen)
    x0, y0 = next((f[4], f[5]) for f in chosen if f[3] == centre)  # row order: y0, then x0
    return (x0, y0), len(near)


CASES = [
    ("centre", 0.1, 0.0),
    ("thirds", 0.1, 0.0),
    ("centre", 0.05, 1.0),
    ("thirds", 0.05, 0.5),
    ("centre", TOLERANCE, BORDER),
    ("thirds", 0.02, 0.3),
]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("composition,tolerance,border", CASES)
def test_composed_search_equals_brute_force(seed, composition, tolerance, border):
    rng = np.random.default_rng(seed)
    density = rng.random((9, 12)) ** 3
    aspect, zoom = [("1:1", 0.6), ("4:3", 0.7), ("3:4", 0.8)][seed % 3]
    win = best_window(
        density, aspect, zoom, composition=composition, tolerance=tolerance, border=border
    )
    w, h = window_size(12, 9, aspect, zoom)
    expected, _ = brute_force(density, w, h, composition, tolerance, border)
    assert win.box == (*expected, expected[0] + w, expected[1] + h)


@pytest.mark.parametrize("seed", range(6))
def test_composed_search_with_keep_boxes_equals_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    density = rng.random((9, 12)) ** 3
    keep = [(1.5, 4, 3, 6)] if seed % 2 else [(6, 2, 7, 3), (8, 3, 9.2, 4)]
    composition = ("centre", "thirds")[seed % 3 == 0]
    win = best_window(density, "1:1", 0.7, composition=composition, tolerance=0.1, keep=keep)
    w, h = window_size(12, 9, "1:1", 0.7)
    whole = [(math.floor(a), math.floor(b), math.ceil(c), math.ceil(d)) for a, b, c, d in keep]
    expected, _ = brute_force(density, w, h, composition, 0.1, BORDER, whole)
    assert win.box == (*expected, expected[0] + w, expected[1] + h)
    x0, y0, x1, y1 = win.box
    assert all(x0 <= a and y0 <= b and c <= x1 and d <= y1 for a, b, c, d in keep)


def framed(density, composition="centre", tolerance=0.1, border=0.0):
    kwargs = {"composition": composition, "tolerance": tolerance, "border": border}
    return best_window(density, "1:1", 0.6, **kwargs).box


def test_brute_force_cases_have_a_choice_to_make():
    """The brute-force comparisons above mean something only if the tolerance lets several
    placements in, the framed one is often not the heaviest, and the border penalty and the
    thirds change the choice."""
    changed = {"tolerance": 0, "border": 0, "thirds": 0}
    for seed in range(6):
        density = np.random.default_rng(seed).random((9, 12)) ** 3
        w, h = window_size(12, 9, "1:1", 0.6)
        _, candidates = brute_force(density, w, h, "centre", 0.1, 0.0)
        assert candidates > 1
        changed["tolerance"] += framed(density) != best_window(density, "1:1", 0.6).box
        changed["border"] += framed(density, border=1) != framed(density)
        changed["thirds"] += framed(density, "thirds") != framed(density)
    assert min(changed.values()) >= 2, changed


def subject_and_faint_patch() -> np.ndarray:
    """A 10 x 40 map: a subject (columns 14-19, mass 60) and a faint patch (column 10, 1% of
    that) that only the 10 x 10 windows at x0 = 10 hold with the subject."""
    d = np.zeros((10, 40))
    d[:, 14:20] = 1.0
    d[:, 10] = 0.06
    return d


def test_tolerance_trades_a_little_mass_for_a_centred_subject():
    d = subject_and_faint_patch()
    heaviest = best_window(d, "1:1").box
    assert heaviest == (10, 0, 20, 10)  # the patch's 1% pushes the subject to the right edge
    # within the default 0.1% or 0.5% only the heaviest qualifies; within 2%, the window
    # centred on the subject (x 14-20, centre 17) does
    assert TOLERANCE == 0.001 and best_window(d, "1:1", composition="centre").box == heaviest
    assert best_window(d, "1:1", composition="centre", tolerance=0.005).box == heaviest
    win = best_window(d, "1:1", composition="centre", tolerance=0.02)
    assert win.box == (12, 0, 22, 10)
    assert win.attention == pytest.approx(60 / 60.6)
    # on a third: the subject's centre 17 at 1/3 or 2/3 of the window's width
    thirds = best_window(d, "1:1", composition="thirds", tolerance=0.02).box
    assert thirds in {(14, 0, 24, 10), (11, 0, 21, 10)}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("composition,tolerance,border", CASES)
def test_framing_never_costs_more_than_the_tolerance(seed, composition, tolerance, border):
    """Whatever the composition and the border penalty, the framed window holds at least
    1 - tolerance of the heaviest window's mass."""
    density = np.random.default_rng(200 + seed).random((9, 12)) ** 3
    aspect, zoom = [("1:1", 0.6), ("4:3", 0.7), ("3:4", 0.8)][seed % 3]
    heaviest = best_window(density, aspect, zoom).attention
    win = best_window(
        density, aspect, zoom, composition=composition, tolerance=tolerance, border=border
    )
    assert win.attention >= (1 - tolerance) * heaviest - 1e-12


@pytest.mark.parametrize("aspect,centred", [("1:1", (10, 0, 70, 60)), ("4:5", (16, 0, 64, 60))])
def test_a_product_on_white_is_centred(aspect, centred):
    """A bottle (a round blob at x = 40 of 90) on a white background with faint noise fits in
    many windows: the noise decides the heaviest; composition centres the bottle at the
    default tolerance (0.1%: a JPEG's faint noise, not a second subject)."""
    ys, xs = np.mgrid[:60, :90] + 0.5
    product = np.exp(-((xs - 40) ** 2 + (ys - 30) ** 2) / (2 * 4**2))
    d = product + np.random.default_rng(0).random((60, 90)) * 0.005
    assert best_window(d, aspect).box != centred
    assert best_window(d, aspect, composition="centre").box == centred
    # on a third: the bottle a third of the way across the window (vertically the window
    # cannot move)
    x0, _, x1, _ = best_window(d, aspect, composition="thirds").box
    assert min(abs(40 - (x0 + (x1 - x0) / 3)), abs(40 - (x0 + 2 * (x1 - x0) / 3))) <= 1


def headline_and_face() -> np.ndarray:
    """100 x 120: a headline band (rows 10-29) across the whole width, and below it a face
    (rows 60-96, columns 40-79) heavier per row, too far apart for one 70 x 70 window."""
    d = np.zeros((100, 120))
    d[10:30, :] = 1.0
    d[60:97, 40:80] = 2.0
    return d


def band_rows_inside(box) -> int:
    return max(0, min(box[3], 30) - max(box[1], 10))


def test_the_border_penalty_keeps_a_headline_whole_or_leaves_it_out():
    d = headline_and_face()
    # the mass alone takes the whole face and the headline's last 3 rows; at the default
    # tolerance framing cannot afford to leave them (they are 6.6% of the window's mass)
    assert band_rows_inside(best_window(d, "1:1", 0.7).box) == 3
    for composition in ("centre", "thirds"):
        assert band_rows_inside(best_window(d, "1:1", 0.7, composition=composition).box) == 3
    # allowed 10%: on a third without the penalty the window cuts the headline further; with
    # it, the headline is left out whole and the face stays whole
    loose = {"tolerance": 0.1}
    assert (
        band_rows_inside(best_window(d, "1:1", 0.7, composition="thirds", border=0, **loose).box)
        == 9
    )
    for composition in ("centre", "thirds"):
        win = best_window(d, "1:1", 0.7, composition=composition, **loose)
        assert band_rows_inside(win.box) in (0, 20), win
        assert win.box[3] >= 97  # and the face stays whole


@pytest.mark.parametrize("composition", ["centre", "thirds"])
def test_flat_maps_stay_centred_with_composition(composition):
    """A uniform map has no attention that stands out: no edge cuts any and every window is
    framed alike, so the window stays at the image centre (not in a corner, where the image's
    edges would cut nothing)."""
    assert best_window(np.ones((9, 21)), "1:1", 0.5, composition=composition).box == (8, 2, 13, 7)
    assert best_window(np.zeros((10, 20)), "1:1", composition=composition).box == (5, 0, 15, 10)


def test_keep_boxes_hold_the_window():
    d = subject_and_faint_patch()
    win = best_window(d, "1:1", keep=[(30, 2, 33.5, 4)])
    assert win.box == (24, 0, 34, 10)  # the nearest the subject that holds the box
    # x0 in 0-2 hold both boxes; 1 and 2 hold the patch as well, 2 is nearer the centre
    win = best_window(d, "1:1", composition="centre", keep=[(2, 0, 3, 1), (5, 9, 6, 10)])
    assert win.box == (2, 0, 12, 10)


@pytest.mark.parametrize(
    "keep,match",
    [
        ([(0, 0, 30, 5)], r"keep box \(0, 0, 30, 5\) is 30x5 pixels but the largest 1:1 window"),
        (
            [(0, 0, 4, 4), (20, 0, 21.5, 2)],
            r"keep boxes \(0, 0, 4, 4\), \(20, 0, 21.5, 2\) span 22x4",
        ),
    ],
)
def test_impossible_keep_boxes_are_refused_naming_the_window(keep, match):
    with pytest.raises(SalmapError, match=match) as e:
        best_window(np.ones((20, 40)), "1:1", 0.5, keep=keep)
    assert "1:1 window at zoom 0.5 of this 40x20 image is 10x10 (20x20 at zoom 1)" in str(e.value)


@pytest.mark.parametrize(
    "keep,match",
    [
        ([(0, 0, 41, 5)], r"keep box \(0, 0, 41, 5\) is not a box inside the 40x20 image"),
        ([(5, 5, 5, 6)], "not a box inside"),
        ([(1, 2, 3)], "not four numbers"),
        (["abcd"], "not four numbers"),
        ((0, 0, 4, 4), r"keep=\(0, 0, 4, 4\) is one box: give a list of boxes"),
    ],
)
def test_bad_keep_boxes_are_refused(keep, match):
    with pytest.raises(SalmapError, match=match):
        best_window(np.ones((20, 40)), "1:1", keep=keep)


@pytest.mark.parametrize(
    "options,match",
    [
        ({"composition": "golden"}, "'golden' is not one of centre, thirds"),
        ({"composition": "centre", "tolerance": 1.0}, r"tolerance 1 must be in \[0, 1\)"),
        ({"composition": "centre", "tolerance": -0.1}, "tolerance"),
        ({"composition": "centre", "border": -1}, "border -1 must be"),
        ({"composition": "centre", "border": float("nan")}, "border"),
        ({"tolerance": 0.1}, "give composition='centre' or 'thirds' with them"),
        ({"border": 0}, "give composition="),
    ],
)
def test_bad_composition_options_are_refused(options, match):
    with pytest.raises(SalmapError, match=match):
        best_window(np.ones((4, 4)), "1:1", **options)


def test_windows_record_the_settings_that_made_them():
    d = subject_and_faint_patch()
    assert best_window(d, "1:1", 0.5).to_dict() == {
        "box": [15, 2, 20, 7],
        "attention": 0.412541,
        "zoom": 0.5,
        "composition": None,
        "tolerance": 0.0,
        "border": 0.0,
    }
    win = best_window(d, (1, 1), composition="thirds", tolerance=0.05, border=0.2)
    assert {k: v for k, v in win.to_dict().items() if k not in ("box", "attention")} == {
        "zoom": 1.0,
        "composition": "thirds",
        "tolerance": 0.05,
        "border": 0.2,
    }


@pytest.mark.parametrize(
    "options", [{}, {"composition": "centre"}, {"composition": "thirds", "keep": [(50, 8, 60, 9)]}]
)
def test_best_windows_share_the_map_s_tables(options, monkeypatch):
    import salmap.placements

    d = headline_and_face()
    aspects = ["1:1", "16:9", "4:5", (9, 16)]
    expected = {a: best_window(d, a, 0.7, **options) for a in aspects}
    built = []
    real = salmap.placements.summed_area_table
    monkeypatch.setattr(
        salmap.placements, "summed_area_table", lambda m: built.append(1) or real(m)
    )
    assert best_windows(d, aspects, 0.7, **options) == expected
    assert len(built) == (1 if not options else 4)  # the mass, and the moments when framing


def test_crop_passes_the_options_on_and_checks_them_before_the_model():
    d = subject_and_faint_patch()
    calls = []

    class Model:
        def predict(self, image):
            calls.append(image)
            return d

    win = salmap.crop(
        "photo.jpg", "1:1", model=Model(), composition="centre", keep=[(20, 0, 21, 1)]
    )
    assert win == best_window(d, "1:1", composition="centre", keep=[(20, 0, 21, 1)])
    assert win.box == (12, 0, 22, 10) and calls == ["photo.jpg"]
    with pytest.raises(SalmapError, match="composition 'middle'"):
        salmap.crop("photo.jpg", "1:1", model=Model(), composition="middle")
    with pytest.raises(SalmapError, match="give composition="):
        salmap.crop("photo.jpg", "1:1", model=Model(), tolerance=0.1)
    assert len(calls) == 1
