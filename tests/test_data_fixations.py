import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from salmap.data.fixations import (
    DENSITY_SIGMA,
    density_map,
    drop_outside,
    fixation_map,
    fixations_from_map,
)


def test_outside_fixations_are_dropped_and_counted():
    fix = np.array([[0.0, 0.0], [9.99, 4.99], [10.0, 1.0], [-0.1, 1.0], [3, 5], [np.nan, 1]])
    kept, n = drop_outside(fix, (5, 10))
    assert n == 4
    np.testing.assert_array_equal(kept, fix[:2])


def test_fixation_map_pixel_convention():
    m = fixation_map(np.array([[0.5, 0.5], [3.9, 1.2], [3.1, 1.9]]), (4, 5), counts=True)
    assert m[0, 0] == 1 and m[1, 3] == 2 and m.sum() == 3
    np.testing.assert_allclose(fixations_from_map(m > 0), [[0.5, 0.5], [3.5, 1.5]])


def test_density_sums_to_one_with_documented_sigma():
    fix = np.array([[20.5, 10.5]])
    d = density_map(fix, (40, 60))
    assert d.sum() == pytest.approx(1.0, abs=1e-5)
    expected = gaussian_filter(
        fixation_map(fix, (40, 60), counts=True).astype(float), DENSITY_SIGMA * 60, mode="constant"
    )
    np.testing.assert_allclose(d, expected / expected.sum(), atol=1e-6)


@pytest.mark.parametrize("shape", [(600, 900), (37, 23)])
def test_density_equals_scipy_gaussian_filter(shape):
    rng = np.random.default_rng(1)
    fix = rng.uniform(0, 1, (50, 2)) * [shape[1], shape[0]]
    fix[1] = fix[0]  # a repeated fixation counts twice
    ours = density_map(fix, shape)
    counts = fixation_map(fix, shape, counts=True).astype(float)
    ref = gaussian_filter(counts, DENSITY_SIGMA * max(shape), mode="constant")
    np.testing.assert_allclose(ours, ref / ref.sum(), rtol=1e-5, atol=1e-9)


def test_density_after_resize_matches_resized_density():
    rng = np.random.default_rng(2)
    fix = rng.uniform(0, 1, (40, 2)) * [200, 100]
    full = density_map(fix, (100, 200))
    from salmap.data.images import resize_array

    small_from_full = resize_array(full, (50, 50))
    small_from_full /= small_from_full.sum()
    small = density_map(fix * [0.25, 0.5], (50, 50), scale=(0.25, 0.5), longer_side=200)
    assert np.corrcoef(small.ravel(), small_from_full.ravel())[0, 1] > 0.98  # pixel binning


def test_density_without_fixations_is_an_error():
    with pytest.raises(ValueError, match="no fixation"):
        density_map(np.array([[50.0, 50.0]]), (10, 10))
