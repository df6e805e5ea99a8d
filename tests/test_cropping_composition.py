"""best_window's composition, cut penalty and keep boxes, and crop_to_size, on small maps."""

import math

import numpy as np
import pytest

from salmap.cropping import BORDER, TOLERANCE, best_window, window_size


def brute_force(density, w, h, composition, tolerance, border, keep=()):
    """(x0, y0) chosen by best_window's rule, every placement and every sum written out as
    Python loops: the score is the mass less ``border * sqrt(w h)`` times what the four edges
    cut (min of the excess over the mean on both sides of each edge pixel, 0 outside); the
    placements within ``tolerance`` of the heaviest mass of the best score are framed by the
    centre of mass of that excess; equal framing goes to the image centre, then row order."""
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
    best = max(f[0] for f in found)
    heaviest = max(f[1] for f in found)
    near = [f for f in found if f[0] >= best - tolerance * heaviest - 1e-9 * total]
    framed = min(f[2] for f in near)
    near = [f for f in near if f[2] <= framed + 1e-6]
    centre = min(f[3] for f in near)
    x0, y0 = next((f[4], f[5]) for f in near if f[3] == centre)  # row order: y0, then x0
    return (x0, y0), len([f for f in found if f[0] >= best - tolerance * heaviest - 1e-9 * total])


CASES = [
    ("centre", 0.1, 0.0),
    ("thirds", 0.1, 0.0),
    ("centre", 0.0, 1.0),
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
        changed["border"] += framed(density, tolerance=0, border=1) != framed(density, tolerance=0)
        changed["thirds"] += framed(density, "thirds") != framed(density)
    assert min(changed.values()) >= 2, changed
