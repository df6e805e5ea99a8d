"""``salmap evaluate`` fails loudly rather than scoring stretched or partial predictions (issue
15, point 3)."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from salmap import baselines as B
from salmap.cli import main
from salmap.data import NUS_MINI, open_dataset
from salmap.evaluate import check_prediction, evaluate, same_aspect, summarize

BASE = ["evaluate", "--data", str(NUS_MINI), "--split", "all", "--metrics", "nss,auc_judd,cc"]
BASE += ["--no-baselines", "--workers", "1"]


@pytest.fixture(scope="module")
def mini():
    return open_dataset(NUS_MINI)


def _write(folder, mini, make, skip=()):
    folder.mkdir(exist_ok=True)
    for i in range(len(mini)):
        if i in skip:
            continue
        s = mini.sample(i)
        np.save(folder / f"{s['id']}.npy", make(s["saliency_map"]))
    return folder


def _rows(out):
    with open(out / "per_image.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_same_aspect_allows_a_pixel_of_rounding_only():
    assert same_aspect((480, 640), (480, 640)) and same_aspect((240, 320), (480, 640))
    assert same_aspect((383, 512), (768, 1024)) and same_aspect((384, 511), (768, 1024))
    assert not same_aspect((640, 480), (480, 640))  # transposed
    assert not same_aspect((480, 600), (480, 640))  # cropped
    # a full-size map of a 3888 x 2592 photo scored at 512 px: the frame is the rounded one
    assert same_aspect((2592, 3888), (341, 512)) and same_aspect((341, 512), (2592, 3888))
    assert not same_aspect((2560, 3888), (341, 512))  # 32 rows cropped off
    assert not same_aspect((2576, 3888), (341, 512))  # 16 rows cropped off
    assert not same_aspect((480, 636), (480, 640))  # 4 columns cropped off
    assert not same_aspect((482, 480), (480, 482))  # transposed, nearly square
    assert check_prediction(np.ones((3, 4)), (3, 4)) == ["constant"]
    with pytest.raises(ValueError, match="another aspect ratio"):
        check_prediction(np.ones((40, 30)), (30, 40))


def test_missing_predictions_are_an_error_unless_allowed(mini, tmp_path, capsys):
    folder = _write(tmp_path / "preds", mini, lambda d: d, skip=(0, 3))
    assert main([*BASE, "--predictions", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "no prediction for 2 of the 12 images" in err and "--allow-missing" in err
    out = tmp_path / "eval"
    assert main([*BASE, "--predictions", str(folder), "--allow-missing", "--out", str(out)]) == 0
    assert "| preds | 10 of 12 |" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["predictors"]["preds"]["missing"] == 2


def test_unreadable_and_transposed_maps_are_errors(mini, tmp_path, capsys):
    folder = _write(tmp_path / "preds", mini, lambda d: d)
    first = mini.ids[1]  # 320 x 240: transposed, 240 x 320
    np.save(folder / f"{first}.npy", mini.sample(1)["saliency_map"].T.copy())
    assert main([*BASE, "--predictions", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"preds {first}:" in err and "another aspect ratio" in err
    (folder / f"{first}.npy").write_bytes(b"not an array")
    assert main([*BASE, "--predictions", str(folder)]) == 2
    assert "cannot be read" in capsys.readouterr().err
    out = tmp_path / "eval"
    assert main([*BASE, "--predictions", str(folder), "--allow-missing", "--out", str(out)]) == 0
    rows = _rows(out)
    assert rows[1]["status"] == "error" and rows[1]["nss"] == ""
    assert [r["status"] for r in rows].count("ok") == 11


def test_other_resolution_same_aspect_is_resized_for_every_metric_alike(mini, tmp_path):
    """A half-size map scores as the full-size one does, for NSS and AUC as for CC."""
    full = _write(tmp_path / "full", mini, lambda d: d)
    half = tmp_path / "half"
    half.mkdir()
    for i in range(len(mini)):
        s = mini.sample(i)
        d = s["saliency_map"]
        h, w = d.shape
        Image.fromarray(d / d.max()).resize((w // 2, h // 2), Image.BILINEAR).save(
            half / f"{s['id']}.tiff"
        )
    out = tmp_path / "eval"
    args = [*BASE, "--predictions", str(full), "--predictions", str(half), "--out", str(out)]
    assert main(args) == 0
    rows = _rows(out)
    halves = [r for r in rows if r["predictor"] == "half"]
    assert all(r["status"] == "ok" and r["flags"].startswith("resized from") for r in halves)
    s = json.loads((out / "summary.json").read_text())["predictors"]
    assert s["half"]["flagged"] == {"resized": 12}
    for m in ("nss", "auc_judd", "cc"):
        assert s["half"]["metrics"][m]["mean"] == pytest.approx(
            s["full"]["metrics"][m]["mean"], rel=0.03
        ), m


def test_constant_and_near_empty_maps_are_scored_and_flagged(mini):
    def constant(image):
        return np.ones(image.shape[:2])

    def spike(image):
        m = np.zeros(image.shape[:2])
        m[10, 10] = 1.0
        return m

    rows = evaluate(
        mini.subset(range(2)),
        {"constant": constant, "spike": spike, "centre": B.predict_centre},
        split="all",
        metrics=("nss", "cc"),
    )
    flags = {r["predictor"]: r["flags"] for r in rows}
    assert flags == {"constant": "constant", "spike": "near-empty", "centre": ""}
    assert all(r["status"] == "ok" and r["nss"] is not None for r in rows)
    assert summarize(rows, ("nss",))["constant"]["flagged"] == {"constant": 2}
