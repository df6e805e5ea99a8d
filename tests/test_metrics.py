import math
import sys

import numpy as np
import pytest
import torch

from salmap import metrics as M
from salmap.data.fixations import density_map, fixation_map
from salmap.data.images import resize_array

RNG = np.random.default_rng(0)
SHAPE = (48, 64)
FIX = np.column_stack([RNG.uniform(0, 64, 25), RNG.uniform(0, 48, 25)])
DENSITY = density_map(FIX, SHAPE)
NOISE = RNG.random(SHAPE)
MAP = DENSITY + 0.3 * NOISE * DENSITY.max()  # a prediction that is neither perfect nor chance


def fixated_only(fix=FIX, shape=SHAPE) -> np.ndarray:
    return fixation_map(fix, shape).astype(np.float64)


# -- AUC-Judd -------------------------------------------------------------------------------------
def test_auc_judd_hand_computed_mit_and_tuebingen():
    # values 4 3 2 1; fixations on the pixels holding 4 and 2
    smap = np.array([[4.0, 3.0, 2.0, 1.0]])
    fix = np.array([[0.5, 0.5], [2.5, 0.5]])
    # MIT: ROC points (0, 0), (0, 1/2), (1/2, 1), (1, 1)
    assert M.auc_judd(smap, fix) == pytest.approx(0.875)
    # Tuebingen: against all four pixels, ties one half: (3.5/4 + 1.5/4) / 2
    assert M.auc_judd(smap, fix, convention="tuebingen") == pytest.approx(0.625)


def test_auc_judd_mit_exceeds_exact_area_by_last_fp_over_2n():
    """The documented bias of the MIT trapezoid: exact ROC area (negatives = non-fixated
    pixels) + fp_N / (2 N), fp_N the false-positive rate at the lowest fixated value."""
    s = MAP.ravel()
    fixated = np.unique(np.flatnonzero(fixated_only()))
    others = np.setdiff1d(np.arange(s.size), fixated)
    exact = np.mean([(s[others] < s[i]).mean() for i in fixated])
    fp_last = (s[others] >= s[fixated].min()).mean()
    expected = exact + fp_last / (2 * len(fixated))
    assert M.auc_judd(MAP, FIX) == pytest.approx(expected, abs=1e-9)


def test_auc_judd_perfect_reversed_and_constant():
    perfect = fixated_only()
    assert M.auc_judd(perfect, FIX) == 1.0
    assert M.auc_judd(-perfect, FIX) < 0.05
    assert M.auc_judd(np.full(SHAPE, 3.0), FIX) == 0.5
    assert M.auc_judd(np.full(SHAPE, 3.0), FIX, convention="tuebingen") == 0.5


def test_auc_judd_is_invariant_to_affine_rescaling_and_seeded():
    a = M.auc_judd(MAP, FIX)
    assert M.auc_judd(7.0 * MAP - 3.0, FIX) == pytest.approx(a, abs=1e-6)
    assert M.auc_judd(MAP, FIX, seed=0) == a
    assert 0.85 < a < 1.0


def test_tuebingen_auc_counts_duplicate_fixations():
    smap = np.array([[4.0, 3.0, 2.0, 1.0]])
    once = np.array([[0.5, 0.5], [2.5, 0.5]])
    twice = np.array([[0.5, 0.5], [0.5, 0.5], [2.5, 0.5]])
    assert M.auc_judd(smap, twice) == M.auc_judd(smap, once)  # MIT: a fixated pixel once
    # Tuebingen: (0.875 + 0.875 + 0.375) / 3
    assert M.auc_judd(smap, twice, convention="tuebingen") == pytest.approx(2.125 / 3)


def test_binary_fixation_map_equals_points_and_sets_the_frame():
    fmap = fixation_map(FIX, SHAPE)
    assert M.auc_judd(MAP, fmap) == M.auc_judd(MAP, FIX)
    assert M.nss(MAP, fmap.astype(np.uint8)) == M.nss(MAP, FIX)
    # a prediction at another size is resized to the fixation map's
    small = MAP[::2, ::2]
    assert M.nss(small, fmap) == pytest.approx(M.nss(resize_array(small, SHAPE), FIX), abs=1e-6)


# -- AUC-Borji and shuffled AUC ---------------------------------------------------------------------
def test_auc_borji_is_one_minus_half_the_share_of_random_pixels_that_hit_a_fixation():
    shape = (10, 10)
    fix = np.array([[1.5, 1.5], [5.5, 2.5], [8.5, 7.5], [3.5, 9.5], [6.5, 6.5]])
    perfect = fixated_only(fix, shape)
    # per split the ROC is (0, 0) -> (h, 1) -> (1, 1): area 1 - h / 2, h the share of the
    # split's random pixels (drawn as documented, from the seed) that land on a fixation
    draws = np.random.default_rng(0).integers(0, 100, size=(100, 5))
    h = perfect.ravel()[draws].mean(axis=1)
    assert M.auc_borji(perfect, fix) == pytest.approx(np.mean(1 - h / 2))
    assert 0.9 < M.auc_borji(perfect, fix) < 1.0
    assert M.auc_borji(-perfect, fix) < 0.05
    assert M.auc_borji(np.ones(shape), fix) == 0.5


def test_auc_borji_seeded_and_affine_invariant():
    a = M.auc_borji(MAP, FIX)
    assert M.auc_borji(MAP, FIX, seed=0) == a
    assert M.auc_borji(2.0 * MAP + 1.0, FIX) == pytest.approx(a, abs=1e-9)
    assert M.auc_borji(MAP, FIX, seed=1) != a
    assert 0.8 < a < 1.0


def test_shuffled_auc_hand_cases():
    smap = np.array([[4.0, 3.0, 2.0, 1.0]])
    fix = np.array([[0.5, 0.5], [2.5, 0.5]])  # values 4, 2
    other = np.array([[1.5, 0.5], [3.5, 0.5], [3.5, 0.5]])  # values 3, 1, 1
    # Tuebingen: 4 beats all three; 2 beats the two 1s: (1 + 2/3) / 2
    assert M.auc_shuffled(smap, fix, other, convention="tuebingen") == pytest.approx(5 / 6)
    # MIT: other pixels {3, 1} once each; thresholds every 0.1 on the [0, 1] map
    assert M.auc_shuffled(smap, fix, other) == pytest.approx(0.75)
    assert M.auc_shuffled(np.ones((1, 4)), fix, other) == 0.5


def test_shuffled_auc_cancels_a_pure_centre_bias():
    shape = (60, 80)
    rng = np.random.default_rng(3)

    def centred(n):
        return np.column_stack(
            [rng.normal(40, 10, n).clip(0, 79), rng.normal(30, 8, n).clip(0, 59)]
        )

    fix, other = centred(80), centred(300)
    centre = density_map(np.array([[40.0, 30.0]]), shape, sigma=0.15)
    assert M.auc_judd(centre, fix) > 0.75
    assert abs(M.auc_shuffled(centre, fix, other) - 0.5) < 0.06
    other_map = fixation_map(other, shape)
    assert M.auc_shuffled(centre, fix, other_map) == M.auc_shuffled(centre, fix, other)
    # MIT counts a fixated pixel once, so dense negatives spread wider than the fixations
    # (and favour the centre); Tuebingen keeps every fixation
    dense = centred(4000)
    assert M.auc_shuffled(centre, fix, dense) > 0.6
    assert abs(M.auc_shuffled(centre, fix, dense, convention="tuebingen") - 0.5) < 0.06


# -- NSS and information gain --------------------------------------------------------------------
def test_nss_of_a_binary_map_is_its_z_score():
    binary = fixated_only()
    k, n = binary.sum(), binary.size
    mean = k / n
    std_mit = math.sqrt(k * (1 - mean) ** 2 + (n - k) * mean**2) / math.sqrt(n - 1)
    assert M.nss(binary, FIX) == pytest.approx((1 - mean) / std_mit)
    std_pop = math.sqrt(mean * (1 - mean))
    assert M.nss(binary, FIX, convention="tuebingen") == pytest.approx((1 - mean) / std_pop)


def test_nss_properties():
    a = M.nss(MAP, FIX)
    assert M.nss(5.0 * MAP - 2.0, FIX) == pytest.approx(a)
    assert M.nss(np.full(SHAPE, 2.0), FIX) == 0.0
    doubled = np.concatenate([FIX, FIX[:5]])
    assert M.nss(MAP, doubled) == a  # MIT: each fixated pixel once
    assert M.nss(MAP, doubled, convention="tuebingen") != M.nss(MAP, FIX, convention="tuebingen")


def test_info_gain_hand_case_and_properties():
    smap, fix = np.array([[1.0, 3.0]]), np.array([[1.5, 0.5]])
    # p = min-max / sum = [0, 1]; a constant baseline is uniform: log2(1) - log2(1/2) = 1 bit
    assert M.info_gain(smap, np.ones((1, 2)), fix) == pytest.approx(1.0)
    assert M.info_gain(MAP, MAP, FIX) == 0.0
    assert M.info_gain(3 * MAP + 1, MAP, FIX) == pytest.approx(0.0, abs=1e-9)
    # Tuebingen: no min-max: p = [1/4, 3/4] -> log2(3/4) - log2(1/2)
    assert M.info_gain(smap, np.ones((1, 2)), fix, convention="tuebingen") == pytest.approx(
        math.log2(1.5)
    )


# -- CC, SIM, KLD --------------------------------------------------------------------------------
def test_map_equal_to_the_density_scores_perfectly():
    assert M.cc(DENSITY, DENSITY) == pytest.approx(1.0)
    assert M.sim(DENSITY, DENSITY) == pytest.approx(1.0)
    assert M.kld(DENSITY, DENSITY) == pytest.approx(0.0, abs=1e-9)
    assert M.ssim(DENSITY, DENSITY) == pytest.approx(1.0)


def test_cc_symmetric_affine_invariant_and_degenerate():
    assert M.cc(MAP, DENSITY) == pytest.approx(M.cc(DENSITY, MAP))
    assert M.cc(-4.0 * MAP + 9.0, DENSITY) == pytest.approx(-M.cc(MAP, DENSITY))
    assert M.cc(2.0 * MAP + 1.0, DENSITY) == pytest.approx(M.cc(MAP, DENSITY))
    assert M.cc(np.ones(SHAPE), DENSITY) == 0.0
    with pytest.raises(ValueError, match="constant"):
        M.cc(MAP, np.ones(SHAPE))


def test_sim_hand_cases():
    a = np.array([[1.0, 1.0, 0.0, 0.0]])
    b = np.array([[0.0, 0.0, 1.0, 1.0]])
    assert M.sim(a, b) == 0.0
    # MIT min-max: [0, 1, 2, 3] -> [0, 1/6, 2/6, 3/6]; uniform ground truth of 1/4
    assert M.sim(np.array([[0.0, 1.0, 2.0, 3.0]]), np.ones((1, 4))) == pytest.approx(
        0 + 1 / 6 + 1 / 4 + 1 / 4
    )
    # Tuebingen drops the min-max: [1, 2, 3, 4] / 10
    assert M.sim(
        np.array([[1.0, 2.0, 3.0, 4.0]]), np.ones((1, 4)), convention="tuebingen"
    ) == pytest.approx(0.1 + 0.2 + 0.25 + 0.25)


def test_sim_symmetric_and_affine_invariant():
    assert M.sim(MAP, DENSITY) == pytest.approx(M.sim(DENSITY, MAP))
    assert M.sim(3.0 * MAP + 2.0, DENSITY) == pytest.approx(M.sim(MAP, DENSITY))


def test_kld_hand_case_and_properties():
    p, q = np.array([[1.0, 3.0]]), np.array([[2.0, 2.0]])  # P = [1/4, 3/4], Q = [1/2, 1/2]
    expected = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert M.kld(p, q) == pytest.approx(expected)
    assert M.kld(10 * p, q) == pytest.approx(expected)  # scale invariant
    assert M.kld(p, q) != pytest.approx(M.kld(q, p))  # not symmetric
    # a constant prediction is the uniform distribution
    assert M.kld(np.zeros((1, 2)), np.array([[1.0, 3.0]])) == pytest.approx(
        0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    )
    # a prediction with negative values is shifted to start at 0
    assert M.kld(p - 5.0, q) == pytest.approx(M.kld(p - p.min(), q))


def test_kld_never_nan_with_zeros():
    q = np.array([[0.0, 1.0]])
    assert np.isfinite(M.kld(np.array([[1.0, 0.0]]), q))  # EPS keeps it finite
    assert M.kld(np.array([[1.0, 0.0]]), q) > 30


# -- SSIM and EMD --------------------------------------------------------------------------------
def test_ssim_symmetric_affine_invariant():
    a = M.ssim(MAP, DENSITY)
    assert a == pytest.approx(M.ssim(DENSITY, MAP), abs=1e-6)
    assert M.ssim(4.0 * MAP + 1.0, DENSITY) == pytest.approx(a, abs=1e-5)
    assert 0.0 < a < 1.0
    with pytest.raises(ValueError, match="11 x 11"):
        M.ssim(np.ones((5, 5)), np.ones((5, 5)))


def test_ssim_restores_torch_threads():
    before = torch.get_num_threads()
    M.ssim(MAP, DENSITY)
    assert torch.get_num_threads() == before


def test_emd_moves_mass_by_the_distance():
    a, b = np.zeros((4, 4)), np.zeros((4, 4))
    a[0, 0], b[0, 3] = 1.0, 1.0
    assert M.emd(a, b, downsize=1) == pytest.approx(3.0)
    b[0, 3], b[3, 0] = 0.5, 0.5  # half moves 3 right, half 3 down
    assert M.emd(a, b, downsize=1) == pytest.approx(3.0)
    assert M.emd(DENSITY, DENSITY) == pytest.approx(0.0, abs=1e-9)
    assert M.emd(MAP, DENSITY, downsize=8) == pytest.approx(M.emd(DENSITY, MAP, downsize=8))


def test_emd_without_pot_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ot", None)
    with pytest.raises(ImportError, match="pip install pot"):
        M.emd(MAP, DENSITY)


# -- input handling ------------------------------------------------------------------------------
def test_torch_tensors_and_python_floats():
    t = torch.from_numpy(MAP)
    for value in (
        M.auc_judd(t, torch.from_numpy(FIX)),
        M.nss(t, FIX),
        M.cc(t, torch.from_numpy(DENSITY)),
        M.sim(t[None], DENSITY),  # 1 x H x W is accepted
    ):
        assert type(value) is float
    assert M.cc(t, DENSITY) == M.cc(MAP, DENSITY)


def test_prediction_of_another_size_is_resized_to_the_density():
    small = DENSITY[::2, ::2]
    assert M.cc(small, DENSITY) == pytest.approx(M.cc(resize_array(small, SHAPE), DENSITY))
    assert M.cc(small, DENSITY) > 0.9


@pytest.mark.parametrize(
    "call",
    [
        lambda m: M.auc_judd(m, FIX),
        lambda m: M.auc_borji(m, FIX),
        lambda m: M.auc_shuffled(m, FIX, FIX),
        lambda m: M.nss(m, FIX),
        lambda m: M.info_gain(m, DENSITY, FIX),
        lambda m: M.cc(m, DENSITY),
        lambda m: M.sim(m, DENSITY),
        lambda m: M.kld(m, DENSITY),
        lambda m: M.ssim(m, DENSITY),
    ],
)
def test_non_finite_maps_are_value_errors(call):
    for bad in (np.nan, np.inf):
        m = MAP.copy()
        m[3, 4] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            call(m)


def test_degenerate_fixations_and_shapes():
    with pytest.raises(ValueError, match="no fixations"):
        M.auc_judd(MAP, np.empty((0, 2)))
    with pytest.raises(ValueError, match="no fixated"):
        M.nss(MAP, np.zeros(SHAPE, dtype=bool))
    with pytest.raises(ValueError, match="outside the 64x48 map"):
        M.nss(MAP, np.array([[70.0, 5.0]]))
    with pytest.raises(ValueError, match="2-D"):
        M.cc(np.ones(10), DENSITY)
    with pytest.raises(ValueError, match="empty"):
        M.cc(np.ones((0, 3)), DENSITY)
    with pytest.raises(ValueError, match="binary"):
        M.nss(MAP, np.ones((5, 3)) * 7)  # not points, not a 0/1 map
    with pytest.raises(ValueError, match="must match"):
        M.auc_shuffled(MAP, FIX, np.ones((10, 10), dtype=bool))
    with pytest.raises(ValueError, match="negative"):
        M.kld(MAP, -DENSITY)
    with pytest.raises(ValueError, match="all zero"):
        M.sim(MAP, np.zeros(SHAPE))
    with pytest.raises(ValueError, match="convention"):
        M.nss(MAP, FIX, convention="matlab")
