"""Scores that must not mislead (issue 25, part 1): derived maps for MIT's thresholded AUCs,
sAUC's negatives, log densities that are densities or zero at a fixation, the gold standard's
image count, leakage of training images, and near-duplicate images."""

import hashlib
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from salmap import baselines as B
from salmap import leakage
from salmap import metrics as M
from salmap.cli import main
from salmap.data import NUS_MINI, fold_indices, open_dataset, split_indices
from salmap.data.hashing import near_duplicate_groups, perceptual_hash
from salmap.derived import thresholded_map
from salmap.evaluate import GOLD, evaluate, summarize

BASE = ["evaluate", "--data", str(NUS_MINI), "--workers", "1"]


@pytest.fixture(scope="module")
def mini():
    return open_dataset(NUS_MINI)


def _blobs(shape, seed=0) -> np.ndarray:
    """A density of a few Gaussian blobs on a faint floor, summing to 1."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    d = np.full(shape, 1e-4)
    for _ in range(3):
        cy, cx, s = rng.uniform(0, shape[0]), rng.uniform(0, shape[1]), rng.uniform(2, 6)
        d += rng.uniform(0.5, 2) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
    return d / d.sum()


def _expected_thresholded_auc(smap, p, q=None, step=0.1) -> float:
    """The AUC that MIT's thresholded rule gives ``smap`` in expectation when positives come
    from p and negatives from q (uniform by default): TP and FP are masses, not samples."""
    q = np.full(p.size, 1 / p.size) if q is None else q.ravel()
    s = (smap - smap.min()) / np.ptp(smap)
    t = np.arange(round(1 / step), -1, -1) * step
    tp = [0, *[(p.ravel() * (s.ravel() >= x)).sum() for x in t], 1]
    fp = [0, *[(q * (s.ravel() >= x)).sum() for x in t], 1]
    return float(np.trapezoid(tp, fp))


# -- 1. the derived maps of MIT's thresholded AUCs ----------------------------------------------
def test_thresholded_map_beats_p_log_p_and_rank_in_expectation():
    p = _blobs((48, 64))
    scores = {
        "p": _expected_thresholded_auc(p, p),
        "log p": _expected_thresholded_auc(np.log(p), p),
        "rank": _expected_thresholded_auc(np.argsort(np.argsort(p.ravel())).reshape(p.shape), p),
    }
    derived = thresholded_map(p)
    assert set(np.unique(derived)) <= {k / 10 for k in range(11)}
    best = _expected_thresholded_auc(derived, p)
    assert best >= max(scores.values()) - 1e-4
    assert best > scores["p"] + 0.02  # the scale of p loses much of the area


def test_thresholded_map_is_the_optimum_by_brute_force():
    rng = np.random.default_rng(3)
    p = rng.gamma(0.5, size=(3, 4))
    p /= p.sum()
    q = rng.uniform(0.5, 1.5, size=p.shape)
    q /= q.sum()
    order = np.argsort(-(p / q).ravel())
    fp, tp = np.cumsum(q.ravel()[order]), np.cumsum(p.ravel()[order])
    best = max(  # every nested choice of 4 top sets (step 0.25: 4 thresholds above 0)
        np.trapezoid([0, *tp[list(c)], 1], [0, *fp[list(c)], 1])
        for c in itertools.combinations_with_replacement(range(p.size - 1), 4)
    )
    got = _expected_thresholded_auc(thresholded_map(p, q, step=0.25), p, q, step=0.25)
    assert got == pytest.approx(best, abs=1e-12)


def test_derived_sauc_does_not_depend_on_the_ig_baseline(mini):
    preds = {"centre": B.predict_centre}
    kw = dict(split="all", metrics=("sauc", "auc_borji"), derived=True)
    by = {
        name: summarize(evaluate(mini, preds, ig_baseline=f, **kw), kw["metrics"])
        for name, f in (("centre", B.centre_gaussian), ("uniform", B.uniform))
    }
    for m in kw["metrics"]:
        a, b = (by[n]["centre"]["metrics"][m]["mean"] for n in ("centre", "uniform"))
        assert a == pytest.approx(b, abs=1e-12)


# -- 2. log densities that are not, or that are zero at a fixation ------------------------------
def _log_densities(mini, folder, transform):
    folder.mkdir()
    for i in range(len(mini)):
        s = mini.sample(i, density=False)
        d = B.centre_gaussian(s["image"].shape[:2]).astype(np.float64)
        np.save(folder / f"{s['id']}.npy", transform(d / d.sum(), s))
    return folder


def test_a_density_passed_as_a_log_density_is_refused_naming_the_file(mini, tmp_path, capsys):
    folder = _log_densities(mini, tmp_path / "plain", lambda d, s: d)
    args = [*BASE, "--split", "all", "--predictions", str(folder), "--log-density"]
    assert main([*args, "--metrics", "ll,nss"]) == 2
    err = capsys.readouterr().err
    assert "048.npy" in err and "density, not the log of one" in err


def test_minus_infinity_at_a_fixation_names_the_images_and_keeps_json_valid(mini, tmp_path, capsys):
    def zero_at_a_fixation(d, s):
        log = np.log(d)
        if s["id"] in ("048", "173"):
            x, y = s["fixations"][0].astype(int)
            log[y, x] = -np.inf
        return log

    folder = _log_densities(mini, tmp_path / "ld", zero_at_a_fixation)
    out = tmp_path / "eval"
    args = [*BASE, "--split", "all", "--predictions", str(folder), "--log-density"]
    assert main([*args, "--metrics", "ll,ig,nss", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "-inf (2 images)" in captured.out
    assert "048, 173" in captured.err and "zero at a fixation" in captured.err

    def refuse(constant):
        raise AssertionError(f"summary.json holds {constant}")

    summary = json.loads((out / "summary.json").read_text(), parse_constant=refuse)
    ll = summary["predictors"]["ld"]["metrics"]["ll"]
    assert ll["mean"] is None and ll["infinite"] == {"value": "-inf", "ids": ["048", "173"]}
    assert summary["predictors"]["ld"]["metrics"]["nss"]["mean"] is not None


# -- 3. the gold standard counts the images it scored -------------------------------------------
def test_gold_row_counts_only_images_with_two_observers(tmp_path, capsys):
    data = tmp_path / "mini"
    shutil.copytree(NUS_MINI, data)
    for name in ("048", "078"):  # one observer left on two images
        lines = (data / "fixations" / f"{name}.csv").read_text().splitlines()
        kept = [ln for ln in lines[1:] if ln.rsplit(",", 1)[1] == "0"]
        (data / "fixations" / f"{name}.csv").write_text("\n".join([lines[0], *kept]) + "\n")
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(data), "--split", "all", "--model", "gold"]
    assert main([*args, "--metrics", "nss,cc", "--workers", "1", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    gold = json.loads((out / "summary.json").read_text())["predictors"]["gold"]
    assert (gold["ok"], gold["skipped"], gold["images"]) == (10, 2, 12)
    assert "| gold | 10 of 12 |" in captured.out
    assert "2 of 12 images have fewer than two observers" in captured.err


# -- 4. sAUC's negatives come from the whole split ------------------------------------------------
def test_sauc_of_a_subset_takes_its_negatives_from_the_whole_split(mini):
    five = mini.subset(range(5))
    whole = evaluate(mini, {"c": B.predict_centre}, split="all", metrics=("sauc",))
    alone = evaluate(five, {"c": B.predict_centre}, split="all", metrics=("sauc",))
    pooled = evaluate(five, {"c": B.predict_centre}, split="all", metrics=("sauc",), negatives=mini)
    assert [r["sauc"] for r in pooled] == [r["sauc"] for r in whole[:5]]
    assert [r["sauc"] for r in alone] != [r["sauc"] for r in whole[:5]]


def test_cli_scores_a_subset_of_a_models_split_against_the_whole_split(
    tiny_saved_model, tmp_path, capsys
):
    mini = open_dataset(NUS_MINI)
    val = SplitRuleFor(tiny_saved_model).part(mini, "val").ids
    assert len(val) >= 2
    ids = tmp_path / "one.txt"
    ids.write_text(val[0] + "\n")
    model = ["--model", str(tiny_saved_model), "--metrics", "sauc", "--no-baselines"]
    assert main([*BASE, *model, "--out", str(tmp_path / "all")]) == 0
    assert main([*BASE, *model, "--ids", str(ids), "--out", str(tmp_path / "two")]) == 0
    printed = capsys.readouterr().out
    assert f"({len(val)} images; 1 of them scored)" in printed
    rows = {
        name: (tmp_path / name / "per_image.csv").read_text().splitlines()[1:]
        for name in ("all", "two")
    }
    assert rows["two"] == [r for r in rows["all"] if r.split(",")[0] == val[0]]


def SplitRuleFor(model_path):
    from salmap.commands.evaluate import model_split_rule
    from salmap.models.io import load_model

    return model_split_rule(str(model_path), load_model(model_path), open_dataset(NUS_MINI))


# -- 5. images a model was trained on, from any folder ------------------------------------------
def _model_trained_on(tmp_path, tiny_saved_model, ids):
    from salmap.models.io import CONFIG, WEIGHTS, read_config, save_model
    from salmap.models.io import load_model as load

    mini = open_dataset(NUS_MINI)
    model = load(tiny_saved_model)
    recipe = read_config(tiny_saved_model / WEIGHTS)["training"]
    part = mini.subset([mini.ids.index(i) for i in ids])
    recipe[leakage.KEY] = leakage.record([part])
    path = save_model(model, tmp_path / "trained", training=recipe)
    assert (path / CONFIG).is_file()
    return path


def test_a_record_merged_with_inherited_ones_knows_all_their_images():
    """A distilled student's record: its own images and those of the models it inherits from
    (an ensemble's members' records included), each image once."""
    mini = open_dataset(NUS_MINI)
    own = leakage.record([mini.subset([0, 1])])
    teacher = {"members": [{"training": {leakage.KEY: leakage.record([mini.subset([1, 2])])}}]}
    found = leakage.entries(teacher)
    assert len(found) == 1 and leakage.entries({}) == []
    both = leakage.merged(own, found)
    assert both["count"] == 3 and len(both["perceptual"]) == 3
    known = leakage.Trained([both])
    assert all(known.knows(mini.records[i].image) for i in range(3))
    assert not leakage.Trained([own]).knows(mini.records[2].image)


def test_images_a_model_was_trained_on_are_refused_from_any_folder(
    tiny_saved_model, tmp_path, capsys
):
    model = _model_trained_on(tmp_path, tiny_saved_model, ["048", "078", "173"])
    copy = tmp_path / "copy"  # a folder layout of its own: the model's split rule knows nothing
    (copy / "images").mkdir(parents=True)
    (copy / "fixations").mkdir()
    for name in ("048", "078", "173", "174", "187"):
        shutil.copy(NUS_MINI / "images" / f"{name}.jpg", copy / "images" / f"renamed_{name}.jpg")
        shutil.copy(
            NUS_MINI / "fixations" / f"{name}.csv", copy / "fixations" / f"renamed_{name}.csv"
        )
    args = ["evaluate", "--data", str(copy), "--split", "all", "--model", str(model)]
    args += ["--metrics", "nss", "--workers", "1", "--no-baselines"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "trained on 3 of the 5 images" in err and "--trained-images" in err
    out = tmp_path / "eval"
    assert main([*args, "--trained-images", "separate", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())["predictors"]
    assert s["trained"]["images"] == 2 and s["trained (trained on)"]["images"] == 3
    assert main([*args, "--trained-images", "include"]) == 0


def test_shipped_models_know_their_training_images():
    import salmap

    for name in ("default", "accurate"):
        known = leakage.trained_images(salmap.load_model(name, runner="torch"))
        assert known is not None and len(known) == 960 and len(known.looks) >= 959
    assert leakage.trained_images(salmap.load_model("default", runner="onnx")) is not None


def test_a_resized_reencoded_copy_of_a_training_image_is_recognised(tmp_path):
    data = open_dataset(NUS_MINI)
    known = leakage.Trained([leakage.record([data.subset([0, 1])])])
    copy = tmp_path / "copy.jpg"
    with Image.open(data.records[0].image) as im:
        im.resize((im.width * 2 // 3, im.height * 2 // 3)).save(copy, quality=70)
    assert known.knows(copy) and known.knows(data.records[1].image)
    assert not known.knows(data.records[2].image)


def test_a_folder_copy_of_osie_training_images_is_refused_for_default(osie, tmp_path, capsys):
    data = open_dataset(osie)
    train, val = data.split("train"), data.split("val")
    copy = tmp_path / "copy"
    (copy / "images").mkdir(parents=True)
    (copy / "fixations").mkdir()
    for part, k in ((train, 3), (val, 2)):
        for i in range(k):
            s = part.sample(i, density=False)
            shutil.copy(s["image_path"], copy / "images" / f"{s['id']}.jpg")
            rows = ["x,y,subject"] + [
                f"{x},{y},{int(u)}" for (x, y), u in zip(s["fixations"], s["subjects"])
            ]
            (copy / "fixations" / f"{s['id']}.csv").write_text("\n".join(rows) + "\n")
    args = ["evaluate", "--data", str(copy), "--split", "all", "--model", "default"]
    assert main([*args, "--metrics", "nss", "--no-baselines"]) == 2
    assert "default was trained on 3 of the 5 images" in capsys.readouterr().err


# -- 6. near-duplicate images stay on one side ------------------------------------------------
def test_split_and_folds_keep_a_group_together():
    ids = [f"im{i:03d}" for i in range(200)]
    train, val = split_indices(ids)
    a, b = train[0], val[0]
    train2, val2 = split_indices(ids, together=[[a, b]])
    lead = min((a, b), key=lambda i: hashlib.sha256(f"0:{ids[i]}".encode()).hexdigest())
    same_side = (a in val2) == (b in val2)
    assert same_side and ((lead in val) == (a in val2))
    # nobody else moved
    others = set(range(200)) - {a, b}
    assert {i for i in val if i in others} == {i for i in val2 if i in others}
    folds = fold_indices(ids, k=5, seed=1)
    c, d = next((i, j) for i in range(200) for j in range(200) if folds[i] != folds[j])
    grouped = fold_indices(ids, k=5, seed=1, together=[[c, d]])
    assert grouped[c] == grouped[d]
    assert [f for i, f in enumerate(grouped) if i not in (c, d)] == [
        f for i, f in enumerate(folds) if i not in (c, d)
    ]


def test_perceptual_hash_finds_a_reencoded_copy_and_nothing_else(tmp_path):
    images = sorted((NUS_MINI / "images").glob("*.jpg"))
    copy = tmp_path / "copy.jpg"
    with Image.open(images[3]) as im:
        w, h = im.size
        im.resize((w * 3 // 4, h * 3 // 4)).save(copy, quality=60)
    hashes = [perceptual_hash(p) for p in [*images, copy]]
    assert near_duplicate_groups(hashes) == [[3, len(images)]]


def test_osie_duplicate_pair_is_flagged_and_kept_on_one_side(osie, capsys):
    data = open_dataset(osie)
    assert data.duplicate_groups() == [("1279", "1374")]
    train = set(data.split("train").ids)
    assert ("1279" in train) == ("1374" in train)
    assert main(["datasets", "info", str(osie), "--quick"]) == 0
    assert "1279 = 1374" in capsys.readouterr().out


def test_derived_maps_keep_ties_together_and_a_constant_at_chance(mini):
    p = np.array([[1, 1, 2, 2, 3, 3, 0, 0]], float)
    stair = thresholded_map(p / p.sum())
    assert stair[0, 0] == stair[0, 1] and stair[0, 2] == stair[0, 3] and stair[0, 4] == stair[0, 5]
    rows = evaluate(mini, {"uniform": B.predict_uniform}, split="all", derived=True)
    s = summarize(rows)["uniform"]["metrics"]
    for m in ("auc_judd", "auc_borji"):  # sAUC's map is 1 / q: not constant
        assert s[m]["mean"] == 0.5
    assert s["nss"]["mean"] == 0.0


def test_gold_standard_gets_derived_maps_like_a_model(mini):
    kw = dict(split="all", metrics=("auc_borji", "nss"))
    plain = summarize(evaluate(mini, {"gold": GOLD}, **kw), kw["metrics"])["gold"]["metrics"]
    derived = summarize(evaluate(mini, {"gold": GOLD}, derived=True, **kw), kw["metrics"])
    derived = derived["gold"]["metrics"]
    assert derived["nss"]["mean"] == pytest.approx(plain["nss"]["mean"])
    assert derived["auc_borji"]["mean"] > plain["auc_borji"]["mean"] + 0.01


def test_derived_maps_for_the_fixation_metrics_only_leave_cc_as_it_is(mini, tmp_path):
    preds = {"centre": B.predict_centre}
    kw = dict(split="all", metrics=("cc", "auc_borji"))
    plain = summarize(evaluate(mini, preds, **kw), kw["metrics"])["centre"]["metrics"]
    both = summarize(evaluate(mini, preds, derived="all", **kw), kw["metrics"])
    fix = summarize(evaluate(mini, preds, derived="fixations", **kw), kw["metrics"])
    assert fix["centre"]["metrics"]["cc"]["mean"] == plain["cc"]["mean"]
    assert both["centre"]["metrics"]["cc"]["mean"] != plain["cc"]["mean"]
    assert fix["centre"]["metrics"]["auc_borji"] == both["centre"]["metrics"]["auc_borji"]
    out = tmp_path / "eval"
    args = [*BASE, "--split", "all", "--metrics", "cc", "--derived-maps", "fixations"]
    assert main([*args, "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["derived_maps"] == "fixations"


def test_log_densities_and_maps_side_by_side_in_one_run(mini, tmp_path):
    logs = _log_densities(mini, tmp_path / "ld", lambda d, s: np.log(d))
    maps = _log_densities(mini, tmp_path / "maps", lambda d, s: d / d.max())
    out = tmp_path / "eval"
    args = [*BASE, "--split", "all", "--metrics", "ll,nss", "--no-baselines", "--out", str(out)]
    args += ["--predictions", str(maps), "--log-densities", str(logs), "--label", "map"]
    assert main([*args, "--label", "log"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sources"]["log"]["log_density"] and not summary["sources"]["map"]["log_density"]
    s = summary["predictors"]
    assert s["log"]["metrics"]["nss"]["mean"] == pytest.approx(s["map"]["metrics"]["nss"]["mean"])
    # exact LL of the log density (every fixation, no min-max) is not the MIT map's
    assert s["log"]["metrics"]["ll"]["mean"] != pytest.approx(s["map"]["metrics"]["ll"]["mean"])
    assert main([*args]) == 2  # one --label for two folders


def test_drop_first_fixation_leaves_out_each_observers_first(mini, tmp_path, capsys):
    from salmap.data.fixations import first_of_each

    assert first_of_each([3, 3, 1, 3, 1, 2]).tolist() == [True, False, True, False, False, True]
    rows = evaluate(mini, {"c": B.predict_centre}, split="all", metrics=("nss",), drop_first=True)
    s = mini.sample(0)
    kept = s["fixations"][~first_of_each(s["subjects"])]
    assert len(kept) == len(s["fixations"]) - len(np.unique(s["subjects"]))
    centre = B.predict_centre(s["image"])
    assert rows[0]["nss"] == pytest.approx(M.nss(centre, kept))
    assert rows[0]["nss"] != pytest.approx(M.nss(centre, s["fixations"]))
    # a data set without observer ids cannot say which fixation came first
    data = tmp_path / "anonymous"
    shutil.copytree(NUS_MINI, data)
    for f in (data / "fixations").glob("*.csv"):
        lines = f.read_text().splitlines()
        f.write_text("\n".join(["x,y"] + [ln.rsplit(",", 1)[0] for ln in lines[1:]]) + "\n")
    args = ["evaluate", "--data", str(data), "--split", "all", "--drop-first-fixation"]
    assert main(args) == 2
    assert "needs each fixation's observer" in capsys.readouterr().err


def test_exact_log_likelihood_of_a_model_and_the_mit_rule_labelled(mini, tmp_path, capsys):
    s = mini.sample(3)
    centre = B.predict_centre(s["image"]).astype(np.float64)
    exact = M.log_likelihood_of_log_density(np.log(centre), s["fixations"])
    rows = {
        rule: evaluate(mini, {"c": B.predict_centre}, split="all", metrics=("ll",), ll_rule=rule)
        for rule in ("exact", "mit")
    }
    assert rows["exact"][3]["ll"] == pytest.approx(exact, rel=1e-6)
    assert rows["mit"][3]["ll"] == pytest.approx(M.log_likelihood(centre, s["fixations"]))
    assert rows["mit"][3]["ll"] != pytest.approx(exact, rel=1e-3)
    for rule in ("exact", "mit"):
        assert main([*BASE, "--split", "all", "--metrics", "ll", "--ll-rule", rule]) == 0
        assert f"LL and IG (bits per fixation): {'exact' if rule == 'exact' else 'MIT'}" in (
            capsys.readouterr().out
        )


def test_per_fixation_averaging_weights_each_image_by_its_fixations(mini, tmp_path):
    rows = evaluate(mini, {"c": B.predict_centre}, split="all", metrics=("ll", "nss"))
    n = np.array([r["fixations"] for r in rows], float)
    assert n.min() > 0 and len(set(n)) > 1
    ll = np.array([r["ll"] for r in rows])
    s = summarize(rows, ("ll", "nss"), average="fixation")["c"]["metrics"]
    assert s["ll"]["mean"] == pytest.approx((ll * n).sum() / n.sum())
    assert s["ll"]["fixations"] == n.sum()
    lo, hi = s["ll"]["ci95"]
    assert lo < s["ll"]["mean"] < hi
    nss = np.array([r["nss"] for r in rows])
    assert s["nss"]["mean"] == pytest.approx(nss.mean())  # other metrics stay per image
    assert summarize(rows, ("ll",))["c"]["metrics"]["ll"]["mean"] == pytest.approx(ll.mean())
    # each fixation counts under the exact rule; each fixated pixel once under MIT's
    kw = dict(split="all", metrics=("ll",), longer_side=48)
    exact = evaluate(mini, {"c": B.predict_centre}, ll_rule="exact", **kw)
    mit = evaluate(mini, {"c": B.predict_centre}, ll_rule="mit", **kw)
    assert exact[0]["fixations"] == len(mini.sample(0)["fixations"])
    assert all(m["fixations"] <= e["fixations"] for m, e in zip(mit, exact))
    assert any(m["fixations"] < e["fixations"] for m, e in zip(mit, exact))


def _pysaliency_folder(tmp_path):
    """`salmap predict --save log-density --naming image` on a few bundled images."""
    images = tmp_path / "stimuli"
    images.mkdir()
    for p in sorted((NUS_MINI / "images").glob("*.jpg"))[:3]:
        shutil.copy(p, images / p.name)
    out = tmp_path / "ld"
    args = ["predict", str(images), "--save", "log-density", "--naming", "image"]
    assert main([*args, "--out", str(out)]) == 0
    return images, out


def test_log_density_folder_meets_pysaliencys_model_from_directory(tmp_path):
    from scipy.special import logsumexp

    images, out = _pysaliency_folder(tmp_path)
    for image in sorted(images.glob("*.jpg")):
        log = np.load(out / f"{image.stem}.npy")  # pysaliency matches files by stimulus stem
        with Image.open(image) as im:
            assert log.shape == (im.height, im.width)  # the stimulus' own size
        assert abs(logsumexp(log.astype(np.float64))) <= 0.01  # its check of a log density


def test_pysaliency_reads_the_log_density_folder(tmp_path):
    pysaliency = pytest.importorskip("pysaliency", reason="pysaliency is not installed")
    images, out = _pysaliency_folder(tmp_path)
    files = [str(p) for p in sorted(images.glob("*.jpg"))]
    stimuli = pysaliency.FileStimuli(files)
    model = pysaliency.ModelFromDirectory(stimuli, str(out))
    for k, f in enumerate(files):
        expected = np.load(out / f"{Path(f).stem}.npy")
        np.testing.assert_allclose(model.log_density(stimuli.stimuli[k]), expected, rtol=1e-6)


def test_log_likelihood_of_a_log_density_reads_a_binary_map_as_its_fixated_pixels():
    p = B.centre_gaussian((30, 40)).astype(np.float64)
    fixated = np.zeros((30, 40), bool)
    fixated[10:14, 18:25] = True
    points = np.argwhere(fixated)[:, ::-1] + 0.5  # (x, y) at pixel centres
    ll_map = M.log_likelihood_of_log_density(np.log(p), fixated)
    assert ll_map == pytest.approx(M.log_likelihood_of_log_density(np.log(p), points))
    assert ll_map > 0  # a centre bias beats the uniform map on central fixations
    with pytest.raises(ValueError, match="must match"):
        M.log_likelihood_of_log_density(np.log(p), np.zeros((30, 41), bool))


def test_nll_loss_is_minus_the_log_likelihood_in_bits():
    import torch

    from salmap.losses import CombinedLoss, nll

    logits = torch.randn(2, 1, 6, 8, generator=torch.Generator().manual_seed(0))
    fix = torch.zeros(2, 1, 6, 8)
    fix[0, 0, 2, 3] = fix[0, 0, 4, 5] = fix[1, 0, 1, 1] = 1
    expected = []
    for b in range(2):
        log = torch.log_softmax(logits[b].reshape(-1), 0).reshape(6, 8).double().numpy()
        expected.append(M.log_likelihood_of_log_density(log, fix[b, 0].numpy().astype(bool)))
    # LL is in bits above the uniform map's, so near 0 here: float32's rounding (about 1e-7)
    # needs an absolute tolerance; nats for bits, or no uniform baseline, miss it by far more
    got = nll(logits, None, fix).item()
    assert got == pytest.approx(-np.mean(expected), rel=1e-5, abs=1e-6)
    assert CombinedLoss({"nll": 1.0}).needs_fixations


# -- the probabilistic protocol's fitted baselines ------------------------------------------------
def test_kde_centre_bias_fits_its_bandwidth_by_leave_one_image_out_likelihood():
    from salmap.kde import BANDWIDTHS, UNIFORM_WEIGHTS, KdeCentreBias

    rng = np.random.default_rng(0)
    tight = [0.5 + 0.01 * rng.standard_normal((30, 2)) for _ in range(20)]
    spread = [rng.uniform(0, 1, (30, 2)) for _ in range(20)]
    k_tight, k_spread = KdeCentreBias.fit(tight), KdeCentreBias.fit(spread)
    assert k_tight.bandwidth == min(BANDWIDTHS) and k_tight.ll > 3
    assert k_spread.bandwidth == max(BANDWIDTHS) or k_spread.uniform_weight == max(UNIFORM_WEIGHTS)
    assert abs(k_spread.ll) < 0.1  # nothing to learn from uniform fixations
    m = k_tight.map((48, 64))
    assert m.shape == (48, 64) and m.sum() == pytest.approx(1, abs=1e-5)
    assert np.unravel_index(m.argmax(), m.shape) in {(23, 31), (23, 32), (24, 31), (24, 32)}
    with pytest.raises(ValueError, match="two images"):
        KdeCentreBias.fit([tight[0]])


def test_gold_fit_and_centre_kde_in_the_cli(tmp_path, capsys):
    out = tmp_path / "eval"
    args = [*BASE, "--split", "all", "--metrics", "ll,ig", "--model", "centre-kde"]
    assert main([*args, "--ig-baseline", "centre-kde", "--out", str(out / "cv")]) == 0
    err = capsys.readouterr().err
    assert "centre-kde: bandwidth" in err and "gold LL and IG: blur" in err
    assert main([*args, "--gold", "fixed", "--out", str(out / "fixed")]) == 0
    cv, fixed = (
        json.loads((out / name / "summary.json").read_text())["predictors"]
        for name in ("cv", "fixed")
    )
    assert cv["centre-kde"]["metrics"]["ig"]["mean"] == pytest.approx(0, abs=1e-6)  # itself
    assert cv["gold"]["metrics"]["ll"]["mean"] != pytest.approx(
        fixed["gold"]["metrics"]["ll"]["mean"]
    )
    assert cv["centre-kde"]["metrics"]["ll"]["mean"] > fixed["uniform"]["metrics"]["ll"]["mean"]
