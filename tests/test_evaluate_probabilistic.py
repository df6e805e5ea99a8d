"""Probabilistic models: log-density predictions, log-likelihood, information gain against a
named baseline, metric-specific derived maps, and the gold standard's LL and IG (issue 15,
point 2)."""

import json

import numpy as np
import pytest

from salmap import baselines as B
from salmap import metrics as M
from salmap.cli import main
from salmap.data import NUS_MINI, open_dataset
from salmap.evaluate import (
    GOLD,
    GOLD_UNIFORM_WEIGHT,
    LogDensity,
    PredictionFolder,
    derived_maps,
    evaluate,
    ground_truth,
    score_map,
    summarize,
)

BASE = ["evaluate", "--data", str(NUS_MINI), "--split", "all", "--workers", "1"]


@pytest.fixture(scope="module")
def mini():
    return open_dataset(NUS_MINI)


def _centre_log_densities(mini, folder, suffix=""):
    folder.mkdir(exist_ok=True)
    for i in range(len(mini)):
        s = mini.sample(i, density=False)
        d = B.centre_gaussian(s["image"].shape[:2]).astype(np.float64)
        np.save(folder / f"{s['id']}{suffix}.npy", np.log(d) - 7.0)  # any additive constant
    return folder


def test_log_likelihood_functions_are_exact():
    rng = np.random.default_rng(0)
    ld = rng.normal(size=(30, 40))
    fix = np.array([[3.5, 2.5], [10.2, 20.9], [39.9, 29.9]])
    p = np.exp(ld) / np.exp(ld).sum()
    cols, rows = fix[:, 0].astype(int), fix[:, 1].astype(int)
    expected = np.mean(np.log2(p[rows, cols] * p.size))
    assert M.log_likelihood_of_log_density(ld + 5, fix) == pytest.approx(expected)
    assert M.log_likelihood_of_log_density(np.zeros((30, 40)), fix) == pytest.approx(0)
    base = np.log(B.centre_gaussian((30, 40)))
    ig = M.info_gain_of_log_density(ld, base, fix)
    assert ig == pytest.approx(expected - M.log_likelihood_of_log_density(base, fix))
    with pytest.raises(ValueError, match="NaN"):
        M.normalise_log_density(np.full((3, 3), np.nan))


def test_a_log_density_folder_is_read_not_refused(mini, tmp_path, capsys):
    folder = _centre_log_densities(mini, tmp_path / "ld")
    # without the flag the negative values are refused, with a hint
    assert main([*BASE, "--predictions", str(folder), "--metrics", "nss"]) == 2
    assert "--log-density" in capsys.readouterr().err
    out = tmp_path / "eval"
    args = [*BASE, "--predictions", str(folder), "--log-density", "--out", str(out)]
    assert main([*args, "--metrics", "ll,ig,nss,cc", "--convention", "tuebingen"]) == 0
    s = json.loads((out / "summary.json").read_text())["predictors"]
    # the log density of the centre Gaussian is the centre Gaussian: IG over it is 0, and its
    # exact LL is the centre map's LL under the Tuebingen rules (every fixation, no min-max)
    assert s["ld"]["metrics"]["ig"]["mean"] == pytest.approx(0, abs=1e-6)
    assert s["ld"]["metrics"]["ll"]["mean"] == pytest.approx(
        s["centre"]["metrics"]["ll"]["mean"], abs=1e-5
    )
    for m in ("nss", "cc"):
        assert s["ld"]["metrics"][m]["mean"] == pytest.approx(s["centre"]["metrics"][m]["mean"])


def test_information_gain_against_a_named_baseline(mini, tmp_path, capsys):
    for baseline in ("uniform", "centre", "centre-fit"):
        out = tmp_path / baseline
        args = [*BASE, "--metrics", "ig,ll", "--ig-baseline", baseline, "--out", str(out)]
        assert main([*args, "--split", "val"]) == 0
        printed = capsys.readouterr().out
        assert f"IG vs {baseline}" in printed
        summary = json.loads((out / "summary.json").read_text())
        assert summary["ig_baseline"] == baseline
        s = summary["predictors"]
        if baseline == "uniform":  # IG against uniform is the log-likelihood
            for p in ("uniform", "centre"):
                assert s[p]["metrics"]["ig"]["mean"] == pytest.approx(
                    s[p]["metrics"]["ll"]["mean"], abs=1e-9
                )
        if baseline == "centre":  # the centre map is float32, the baseline float64
            assert s["centre"]["metrics"]["ig"]["mean"] == pytest.approx(0, abs=1e-7)


def test_gold_standard_has_a_regularised_log_likelihood(mini):
    rows = evaluate(
        mini, {"gold": GOLD, "centre": B.predict_centre}, split="all", metrics=("ll", "ig")
    )
    s = summarize(rows, ("ll", "ig"))
    assert s["gold"]["metrics"]["ll"]["mean"] > s["centre"]["metrics"]["ll"]["mean"] > 0
    assert s["gold"]["metrics"]["ig"]["mean"] > 0
    # the definition, on one image: each observer's fixations under the others' density
    # mixed with GOLD_UNIFORM_WEIGHT of the uniform map
    sample = mini.sample(4, density=False)
    fix, subjects, shape = sample["fixations"], sample["subjects"], sample["image"].shape[:2]
    values = []
    for _, held, others in B.leave_one_subject_out(fix, subjects, shape):
        p = (1 - GOLD_UNIFORM_WEIGHT) * others / others.sum() + GOLD_UNIFORM_WEIGHT / others.size
        cols, rows_ = held[:, 0].astype(int), held[:, 1].astype(int)
        values.extend(np.log2(p[rows_, cols] * p.size))
    gold_row = [r for r in rows if r["predictor"] == "gold"][4]
    assert gold_row["ll"] == pytest.approx(np.mean(values), rel=1e-5)


def test_derived_maps_follow_kuemmerer_2018(mini):
    truth = ground_truth(mini.sample(1), None)
    density = B.centre_gaussian(truth.shape).astype(np.float64)
    maps = derived_maps(density, truth, ("nss", "cc", "sauc", "ll"))
    assert maps["nss"] is maps["ll"]  # the density itself
    np.testing.assert_allclose(maps["nss"], density / density.sum())
    # CC's map is the density blurred as the ground truth is: smoother than the density
    assert maps["cc"].max() < maps["nss"].max() and maps["cc"].sum() == pytest.approx(1)
    # AUC-Judd's map is the density's rank (MIT's jitter cannot reorder it)
    ranks = derived_maps(density, truth, ("auc_judd",))["auc_judd"]
    assert np.array_equal(np.argsort(ranks, axis=None), np.argsort(density, axis=None))
    # sAUC's map divides by the negatives' density, not by the IG baseline: under the
    # Tuebingen rule (every threshold) the ratio to it; under MIT's a staircase of 0.1 steps
    other = np.array([[10.5, 10.5], [200.5, 100.5], [20.5, 150.5]])
    truth = ground_truth(mini.sample(1), other)
    tue = derived_maps(density, truth, ("sauc",), convention=M.TUEBINGEN)["sauc"]
    q = density / tue
    assert q[10, 10] > q[120, 160] and q.sum() == pytest.approx(1)
    mit = derived_maps(density, truth, ("sauc",))["sauc"]
    assert set(np.unique(mit)) <= {k / 10 for k in range(11)}


def test_derived_maps_flag_changes_cc_only_where_it_should(mini, tmp_path):
    folder = _centre_log_densities(mini, tmp_path / "ld", suffix="_logdensity")
    preds = {"ld": PredictionFolder(folder, log_density=True)}
    plain = summarize(evaluate(mini, preds, split="all", metrics=("nss", "cc")), ("nss", "cc"))
    derived = summarize(
        evaluate(mini, preds, split="all", metrics=("nss", "cc"), derived=True), ("nss", "cc")
    )
    assert derived["ld"]["metrics"]["nss"]["mean"] == pytest.approx(
        plain["ld"]["metrics"]["nss"]["mean"]
    )
    assert derived["ld"]["metrics"]["cc"]["mean"] != plain["ld"]["metrics"]["cc"]["mean"]


def test_log_density_in_frame_resizes_through_the_density(mini):
    truth = ground_truth(mini.sample(1), None)
    h, w = truth.shape
    small = np.log(B.centre_gaussian((h // 2, w // 2)).astype(np.float64))
    scores = score_map(LogDensity(small), truth, ("ll", "nss"))
    full = score_map(LogDensity(np.log(B.centre_gaussian((h, w)))), truth, ("ll", "nss"))
    assert scores["ll"] == pytest.approx(full["ll"], abs=0.02)
    assert scores["nss"] == pytest.approx(full["nss"], rel=0.02)
