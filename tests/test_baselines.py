import json
import math

import numpy as np
import pytest

from salmap import baselines as B
from salmap.data import NUS_MINI, density_map, open_dataset


def test_uniform_and_centre_maps_are_distributions():
    u = B.uniform((30, 40))
    assert u.shape == (30, 40) and u.sum() == pytest.approx(1.0) and np.ptp(u) == 0
    c = B.centre_gaussian((31, 41))
    assert c.shape == (31, 41) and c.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.unravel_index(c.argmax(), c.shape) == (15, 20)
    np.testing.assert_allclose(c, c[::-1, ::-1], rtol=1e-6)  # symmetric about the centre
    with pytest.raises(ValueError, match="positive"):
        B.centre_gaussian((0, 5))


def test_centre_gaussian_sigma_is_a_fraction_of_each_side():
    h, w = 101, 201
    c = B.centre_gaussian((h, w), sigma=0.25)
    # pixel centres are (i + 0.5) / side; column 150 is 0.2488 of the width from the centre
    dx = (150 + 0.5) / w - 0.5
    assert c[50, 150] / c[50, 100] == pytest.approx(math.exp(-0.5 * (dx / 0.25) ** 2), rel=1e-4)
    dy = (75 + 0.5) / h - 0.5
    assert c[75, 100] / c[50, 100] == pytest.approx(math.exp(-0.5 * (dy / 0.25) ** 2), rel=1e-4)


def test_predictor_interfaces_follow_the_image_size():
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    assert B.predict_uniform(image).shape == (20, 30)
    np.testing.assert_array_equal(B.predict_centre(image), B.centre_gaussian((20, 30)))


def test_centre_bias_fit_recovers_a_known_gaussian(tmp_path):
    rng = np.random.default_rng(0)
    cov = np.array([[0.02, 0.005], [0.005, 0.01]])
    per_image = [rng.multivariate_normal([0.5, 0.45], cov, size=50) for _ in range(40)]
    bias = B.CentreBias.fit(per_image)
    assert bias.mean == pytest.approx((0.5, 0.45), abs=0.01)
    np.testing.assert_allclose(bias.cov, cov, atol=0.002)
    assert bias.images == 40 and bias.fixations == 2000
    # JSON-able, and the same after a round trip
    path = tmp_path / "centre.json"
    bias.save(path)
    assert json.loads(path.read_text())["kind"] == "centre-bias"
    again = B.CentreBias.load(path)
    assert again == bias
    m = again.map((60, 80))
    assert m.sum() == pytest.approx(1.0, abs=1e-5)
    row, col = np.unravel_index(m.argmax(), m.shape)
    assert abs((col + 0.5) / 80 - 0.5) < 0.02 and abs((row + 0.5) / 60 - 0.45) < 0.02


def test_centre_bias_weighs_every_image_equally():
    many_left = np.tile([[0.2, 0.5]], (1000, 1))
    few_right = [np.array([[0.8, 0.5]])] * 3
    bias = B.CentreBias.fit([many_left, *few_right, None, np.empty((0, 2))])
    assert bias.mean[0] == pytest.approx((0.2 + 3 * 0.8) / 4)
    assert bias.images == 4
    with pytest.raises(ValueError, match="no fixations"):
        B.CentreBias.fit([None])


def test_fit_centre_bias_on_real_fixations():
    ds = open_dataset(NUS_MINI)
    rel = B.relative_fixations(ds)
    assert len(rel) == 12 and all((r >= 0).all() and (r < 1).all() for r in rel)
    bias = B.fit_centre_bias(ds)
    # people look near the middle, a little above it
    assert 0.4 < bias.mean[0] < 0.6 and 0.35 < bias.mean[1] < 0.55
    assert 0.005 < bias.cov[0][0] < 0.06 and 0.005 < bias.cov[1][1] < 0.06


def test_leave_one_subject_out_uses_the_others_density():
    ds = open_dataset(NUS_MINI)
    s = ds.sample(0, density=False)
    fix, subjects, shape = s["fixations"], s["subjects"], s["image"].shape[:2]
    folds = list(B.leave_one_subject_out(fix, subjects, shape))
    assert [f[0] for f in folds] == sorted(set(subjects.tolist()))
    subject, held, others = folds[3]
    np.testing.assert_array_equal(held, fix[subjects == subject])
    np.testing.assert_array_equal(others, density_map(fix[subjects != subject], shape))
    assert list(B.leave_one_subject_out(fix[:3], np.zeros(3), shape)) == []


def test_split_halves_alternate_observers():
    fix = np.array([[1.5, 1.5], [2.5, 2.5], [10.5, 10.5], [12.5, 12.5]])
    a, b = B.split_halves(fix, np.array([7, 3, 5, 9]), (20, 20))
    # sorted ids 3 5 7 9: first half {3, 7}, second {5, 9}
    np.testing.assert_array_equal(a, density_map(fix[[0, 1]], (20, 20)))
    np.testing.assert_array_equal(b, density_map(fix[[2, 3]], (20, 20)))
    with pytest.raises(ValueError, match="two observers"):
        B.split_halves(fix, np.zeros(4), (20, 20))


def test_gold_standard_without_subject_ids_says_why():
    with pytest.raises(ValueError, match="subject ids"):
        list(B.leave_one_subject_out(np.ones((3, 2)), None, (10, 10)))
    with pytest.raises(ValueError, match="subject ids"):
        B.split_halves(np.ones((3, 2)), None, (10, 10))
