"""What a paper needs: provenance in summary.json, --label, a per-category breakdown, LaTeX
(booktabs), and a paired comparison of every two predictors (issue 15, points 4 and 5)."""

import csv
import json
import shutil

import numpy as np
import pytest
from scipy.stats import wilcoxon

from salmap import baselines as B
from salmap.cli import main
from salmap.data import NUS_MINI, ids_hash, open_dataset
from salmap.paired import compare_pair, paired_comparison


@pytest.fixture(scope="module")
def mini():
    return open_dataset(NUS_MINI)


def _categorised(root):
    """nus_mini as a folder dataset with two categories (images/<cat>/<name>.jpg)."""
    for i, img in enumerate(sorted((NUS_MINI / "images").glob("*.jpg"))):
        cat = "indoor" if i % 2 else "outdoor"
        (root / "images" / cat).mkdir(parents=True, exist_ok=True)
        (root / "fixations" / cat).mkdir(parents=True, exist_ok=True)
        shutil.copy(img, root / "images" / cat / img.name)
        shutil.copy(NUS_MINI / "fixations" / f"{img.stem}.csv", root / "fixations" / cat)
    return root


def test_summary_records_provenance_and_label(mini, tmp_path):
    folder = tmp_path / "maps"
    folder.mkdir()
    for i in range(len(mini)):
        s = mini.sample(i, density=False)
        np.save(folder / f"{s['id']}.npy", B.centre_gaussian(s["image"].shape[:2]))
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(NUS_MINI), "--predictions", str(folder)]
    args += ["--label", "Ours (2026)", "--metrics", "nss,cc", "--out", str(out)]
    assert main(args) == 0
    doc = json.loads((out / "summary.json").read_text())
    prov = doc["provenance"]
    assert prov["salmap_version"] and prov["command_line"] == ["salmap", *args]
    assert prov["git_commit"] is None or len(prov["git_commit"].split("-")[0]) == 40
    assert doc["data"] == {"path": str(NUS_MINI.resolve()), "format": "folder"}
    part = mini.split("val")
    assert doc["split_rule"]["ids_sha256"] == ids_hash(part.ids)
    assert doc["split_rule"]["seed"] == 0 and doc["split_rule"]["val_fraction"] == 0.2
    assert doc["sources"]["Ours (2026)"] == {
        "kind": "predictions",
        "path": str(folder.resolve()),
        "maps": 12,
        "log_density": False,
    }
    assert doc["sources"]["centre"]["kind"] == "baseline"
    assert doc["metric_parameters"]["auc_splits"] == 100
    assert doc["metric_parameters"]["density_sigma"] == 0.025
    tex = (out / "table.tex").read_text()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    assert "Ours (2026)" in tex and r"\textbf{" in tex
    assert main([*args[:-2], "--label", "x", "--out", str(tmp_path / "e2")]) == 2


def test_model_source_has_its_config_hash(tmp_path):
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(NUS_MINI), "--model", "default", "--split", "all"]
    assert main([*args, "--metrics", "nss", "--no-baselines", "--out", str(out)]) == 0
    source = json.loads((out / "summary.json").read_text())["sources"]["default"]
    assert source["kind"] == "model" and source["path"].endswith("default.safetensors")
    assert len(source["config_sha256"]) == 64


def test_per_category_breakdown(tmp_path, capsys):
    data = _categorised(tmp_path / "data")
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(data), "--split", "all", "--metrics", "nss"]
    assert main([*args, "--out", str(out)]) == 0
    assert "By category" in capsys.readouterr().out
    with open(out / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["category"] for r in rows} == {"indoor", "outdoor"}
    cats = json.loads((out / "summary.json").read_text())["by_category"]
    centre = [float(r["nss"]) for r in rows if r["predictor"] == "centre"]
    indoor = [
        float(r["nss"]) for r in rows if r["predictor"] == "centre" and r["category"] == "indoor"
    ]
    assert cats["centre"]["indoor"]["images"] == 6
    assert cats["centre"]["indoor"]["metrics"]["nss"] == pytest.approx(np.mean(indoor), rel=1e-5)
    assert np.mean(indoor) != pytest.approx(np.mean(centre))
    assert "| centre | indoor | 6 |" in (out / "table.md").read_text()


def test_paired_comparison_statistics():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 0.3, 40)
    b = a - 0.1 + rng.normal(0, 0.05, 40)
    rows = [{"id": str(i), "predictor": "A", "status": "ok", "nss": v} for i, v in enumerate(a)]
    rows += [{"id": str(i), "predictor": "B", "status": "ok", "nss": v} for i, v in enumerate(b)]
    rows[0] = rows[0] | {"status": "missing", "nss": None}  # image 0 drops out of the pair
    r = compare_pair(rows, "A", "B", "nss")
    d = a[1:] - b[1:]
    assert r["n"] == 39 and r["mean_difference"] == pytest.approx(d.mean())
    assert r["ci95"][0] < d.mean() < r["ci95"][1] and r["ci95"][0] > 0  # A is better
    assert r["wilcoxon_p"] == pytest.approx(wilcoxon(d).pvalue) and r["wilcoxon_p"] < 1e-6
    assert r["a_better"] == int((d > 0).sum())
    same = [x | {"predictor": "C"} for x in rows if x["predictor"] == "A"]
    assert compare_pair(rows + same, "A", "C", "nss")["wilcoxon_p"] == 1.0
    pairs = paired_comparison(rows + same, ["nss"])
    assert [(p["a"], p["b"]) for p in pairs] == [("A", "B"), ("A", "C"), ("B", "C")]


def test_cli_writes_the_paired_comparison(mini, tmp_path, capsys):
    folder = tmp_path / "theirs"
    folder.mkdir()
    for i in range(len(mini)):
        s = mini.sample(i, density=False)
        np.save(folder / f"{s['id']}.npy", B.centre_gaussian(s["image"].shape[:2], 0.15))
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(NUS_MINI), "--split", "all", "--metrics", "nss,kld"]
    assert main([*args, "--predictions", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| centre | theirs | NSS |" in printed  # pairs with a scored predictor are shown
    pairs = json.loads((out / "summary.json").read_text())["paired"]
    names = {(p["a"], p["b"]) for p in pairs}
    assert ("uniform", "centre") in names and all("gold" not in n for n in names)
    assert "Wilcoxon" in (out / "paired.md").read_text()
