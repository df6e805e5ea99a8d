"""Overlays on the attention-mass scale, checked by the shares of attention, not by eye."""

import numpy as np
import pytest

from salmap.errors import SalmapError
from salmap.viz import (
    colormap_lut,
    fog,
    heatmap_rgb,
    legend,
    mass_levels,
    overlay,
    with_legend,
)


def smudge_and_price():
    """A peaked smudge holding 20% of the attention on 0.25% of a 200 x 200 image, and a flat
    "price" block holding 60% on 16% of it; the remaining 20% spread evenly."""
    d = np.full((200, 200), 0.2 / 40000, np.float32)
    d[10:20, 10:20] += 0.2 / 100 * np.linspace(0.5, 1.5, 100).reshape(10, 10)
    d[100:180, 100:180] += 0.6 / 6400
    return d / d.sum()


def test_mass_levels_are_shares_of_attention_above_each_pixel():
    d = smudge_and_price()
    levels = mass_levels(d)
    assert levels.shape == d.shape and levels.dtype == np.float32
    assert levels.min() >= 0 and levels.max() == pytest.approx(1.0)
    for share in (0.1, 0.25, 0.5, 0.75, 0.9):
        # the region whose level is at most `share` holds at most that share of attention,
        # and adding the next pixels (the next density value down) passes it
        inside = levels <= share
        held = d[inside].sum()
        assert held <= share + 1e-5
        nxt = d[~inside].max()
        assert held + d[d == nxt].sum() >= share - 1e-5
    # the most salient pixel holds only its own share; above the flat block's level lie the
    # smudge and the block, each with its part of the even spread
    assert levels[d.argmax() // 200, d.argmax() % 200] == pytest.approx(d.max(), rel=1e-4)
    even = 0.2 / 40000
    assert levels[140, 140] == pytest.approx(0.2 + 0.6 + even * (100 + 6400), abs=1e-4)


def test_mass_levels_of_a_large_map_use_a_sample_and_stay_close(monkeypatch):
    import salmap.viz as viz

    yy, xx = np.mgrid[:300, :400]  # smooth, as maps upsampled from the model's output are
    d = np.exp(-((xx - 120) ** 2 + (yy - 100) ** 2) / 800) + 0.3 * np.exp(-((xx - 300) ** 2) / 5e3)
    exact = mass_levels(d)
    monkeypatch.setattr(viz, "_LEVEL_SAMPLES", 20000)  # every 3rd pixel of every 3rd row
    monkeypatch.setattr(viz, "_BAND_PIXELS", 1000)
    assert np.abs(mass_levels(d) - exact).max() < 0.03
    assert (mass_levels(np.zeros((4, 5))) == 1).all()


def test_the_mass_scale_shows_spread_attention_that_the_peak_scale_hides():
    d = smudge_and_price()
    image = np.full((200, 200, 3), 128, np.uint8)
    mass = overlay(image, d, alpha=0.7, scale="mass").astype(int)
    peak = overlay(image, d, alpha=0.7, scale="peak").astype(int)
    block = (slice(110, 170), slice(110, 170))  # 60% of the attention
    change_mass = np.abs(mass[block] - 128).mean()
    change_peak = np.abs(peak[block] - 128).mean()
    assert change_peak < 5 and change_mass > 15  # invisible on the peak scale, not on mass
    # on the mass scale the colour is the lookup table at 1 - level, with opacity alpha at
    # levels up to 50% and alpha * 2 * (1 - level) beyond
    levels = mass_levels(d)
    heat = 1 - levels[140, 140]
    colour = colormap_lut("inferno")[round(heat * 255)]
    weight = 0.7 * min(1, 2 * heat)
    np.testing.assert_allclose(mass[140, 140], (1 - weight) * 128 + weight * colour, atol=1)
    inside = levels <= 0.5
    assert (np.abs(mass[inside] - image[inside]).sum(axis=1) > 0).all()


def test_contours_bound_the_25_50_75_percent_regions():
    d = smudge_and_price()
    image = np.zeros((200, 200, 3), np.uint8)
    lines = overlay(image, d, alpha=0.0, contours=True).max(axis=2) == 255
    levels = mass_levels(d)
    # every line pixel sits on a boundary of one of the regions
    for y, x in zip(*np.nonzero(lines)):
        near = levels[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2]
        assert any(near.min() <= s < near.max() for s in (0.25, 0.5, 0.75))
    assert lines[10, 15] and lines[15, 10]  # the smudge's edge: all of it is in the 25% region
    assert not lines[60, 60] and not lines[140, 140]


def test_fog_keeps_the_75_percent_region_and_darkens_the_rest():
    d = smudge_and_price()
    image = np.full((200, 200, 3), 200, np.uint8)
    foggy = fog(image, d)
    assert (foggy[mass_levels(d) <= 0.75] == 200).all()
    assert foggy[60, 60].max() < 60  # the even spread holding the last 20%


def test_heatmap_colours_come_from_the_table_and_names_are_checked():
    d = smudge_and_price()
    lut = colormap_lut("magma")
    rgb = heatmap_rgb(d, "magma", scale="peak")
    np.testing.assert_array_equal(rgb[15, 15], lut[round(d[15, 15] / d.max() * 255)])
    with pytest.raises(SalmapError, match="unknown colormap 'Inferno'"):
        colormap_lut("Inferno")
    with pytest.raises(SalmapError, match="scale"):
        overlay(np.zeros((200, 200, 3), np.uint8), d, scale="log")


def test_legend_goes_under_the_image():
    image = np.zeros((50, 240, 3), np.uint8)
    both = with_legend(image)
    assert both.shape[1] == 240 and both.shape[0] > 50 + 20
    band = legend(240, "peak")
    assert band.shape[1] == 240 and (band < 128).any()  # some dark text and bar


def test_overlay_and_fog_take_a_path_or_a_pil_image_as_predict_does(tmp_path):
    from PIL import Image

    from salmap.viz import fog, overlay

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    density = rng.random((30, 40)).astype(np.float32)
    density /= density.sum()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    for draw in (overlay, fog):
        expected = draw(rgb, density)
        np.testing.assert_array_equal(draw(tmp_path / "a.png", density), expected)
        np.testing.assert_array_equal(draw(str(tmp_path / "a.png"), density), expected)
        np.testing.assert_array_equal(draw(Image.fromarray(rgb), density), expected)
