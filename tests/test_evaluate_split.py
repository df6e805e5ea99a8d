"""``salmap evaluate`` scores a saved model on the split it was trained with (issue 15, point 1)."""

import csv
import json

import pytest
import torch

from salmap.cli import main
from salmap.data import NUS_MINI, open_dataset
from salmap.models import ModelConfig, SaliencyModel
from salmap.models.io import save_model


@pytest.fixture(scope="module")
def mini():
    return open_dataset(NUS_MINI)


def _tiny():
    torch.manual_seed(0)
    cfg = ModelConfig(
        encoder="tiny",
        encoder_weights=None,
        decoder="fpn",
        decoder_args={},
        input_size=(64, 64),
        aspect="pad",
        output="softmax",
    )
    return SaliencyModel(cfg).eval()


def _save(path, seed, fraction=0.25, split_json=None, fmt="folder"):
    """A tiny model saved as a run's model (RUN/models/best) trained with ``seed``."""
    recipe = {"data": {"format": fmt, "split_seed": seed, "val_fraction": fraction}}
    model = save_model(_tiny(), path / "models" / "best", training=recipe)
    if split_json is not None:
        (path / "split.json").write_text(json.dumps(split_json))
    return model


def _scored_ids(out):
    with open(out / "per_image.csv", newline="") as f:
        return sorted({r["id"] for r in csv.DictReader(f)})


BASE = ["evaluate", "--data", str(NUS_MINI), "--metrics", "nss", "--workers", "1"]


def test_the_model_is_scored_on_its_own_split_seed(mini, tmp_path):
    own = sorted(mini.split("val", 0.25, 1).ids)
    assert own != sorted(mini.split("val", 0.2, 0).ids)  # the test can tell them apart
    model = _save(tmp_path / "run", seed=1)
    out = tmp_path / "eval"
    assert main([*BASE, "--model", str(model), "--out", str(out)]) == 0
    assert _scored_ids(out) == own
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split_rule"]["seed"] == 1 and summary["split_rule"]["val_fraction"] == 0.25


def test_a_runs_split_json_is_the_split(mini, tmp_path):
    val = ["078", "367", "436"]
    train = [i for i in mini.ids if i not in val]
    model = _save(tmp_path / "run", seed=0, split_json={"train": train, "val": val})
    out = tmp_path / "eval"
    assert main([*BASE, "--model", str(model), "--out", str(out)]) == 0
    assert _scored_ids(out) == val
    assert main([*BASE, "--model", str(model), "--split", "train", "--out", str(out / "t")]) == 0
    assert _scored_ids(out / "t") == sorted(train)


def test_a_run_on_several_data_sets_is_scored_on_this_ones_split(mini, tmp_path):
    val = ["078", "367"]
    train = [i for i in mini.ids if i not in val]
    listing = {
        "train": [f"nus_mini/{i}" for i in train] + ["osie/1001"],
        "val": [f"nus_mini/{i}" for i in val] + ["osie/1002"],
        "datasets": {
            "nus_mini": {"train": train, "val": val},
            "osie": {"train": ["1001"], "val": ["1002"]},
        },
    }
    model = _save(tmp_path / "run", seed=0, split_json=listing, fmt=[None, "osie"])
    out = tmp_path / "eval"
    assert main([*BASE, "--model", str(model), "--out", str(out)]) == 0
    assert _scored_ids(out) == val
    assert (
        main([*BASE, "--ids", str(tmp_path / "run" / "split.json"), "--out", str(out / "i")]) == 0
    )
    assert _scored_ids(out / "i") == val
    del listing["datasets"]["nus_mini"]
    (tmp_path / "run" / "split.json").write_text(json.dumps(listing))
    assert main([*BASE, "--ids", str(tmp_path / "run" / "split.json")]) == 2


def test_models_with_different_splits_are_refused_naming_both(tmp_path, capsys):
    a = _save(tmp_path / "a", seed=1)
    b = _save(tmp_path / "b", seed=2)
    assert main([*BASE, "--model", str(a), "--model", str(b)]) == 2
    err = capsys.readouterr().err
    assert "a/best and b/best have different val splits" in err
    assert "seed 1" in err and "seed 2" in err
    # the same split is fine, and so is --split all
    c = _save(tmp_path / "c", seed=1)
    assert main([*BASE, "--model", str(a), "--model", str(c), "--no-baselines"]) == 0
    assert main([*BASE, "--model", str(a), "--model", str(b), "--split", "all"]) == 0


def test_split_flags_for_folders_and_baselines(mini, tmp_path, capsys):
    out = tmp_path / "eval"
    args = [*BASE, "--split-seed", "1", "--val-fraction", "0.25", "--out", str(out)]
    assert main(args) == 0
    assert _scored_ids(out) == sorted(mini.split("val", 0.25, 1).ids)
    ids = tmp_path / "val.txt"
    ids.write_text("048\n173\n\n")
    assert main([*BASE, "--ids", str(ids), "--out", str(out / "ids")]) == 0
    assert _scored_ids(out / "ids") == ["048", "173"]
    ids.write_text("048\nnot-there\n")
    assert main([*BASE, "--ids", str(ids)]) == 2
    assert "val.txt lists 1 image(s)" in capsys.readouterr().err
    # flags that disagree with a model's own split are refused
    model = _save(tmp_path / "run", seed=1)
    assert main([*BASE, "--model", str(model), "--split-seed", "3"]) == 2
    assert "the split flags" in capsys.readouterr().err
    # ... but some of the model's own validation images are a quick check, none of the others
    own = sorted(mini.split("val", 0.25, 1).ids)
    ids.write_text(own[0] + "\n")
    assert main([*BASE, "--model", str(model), "--ids", str(ids), "--out", str(out / "m")]) == 0
    assert _scored_ids(out / "m") == own[:1]
    rule = json.loads((out / "m" / "summary.json").read_text())["split_rule"]
    assert f"1 of the {len(own)} val images of seed 1" in rule["source"]
    trained_on = next(i for i in mini.ids if i not in own)
    ids.write_text(f"{own[0]}\n{trained_on}\n")
    assert main([*BASE, "--model", str(model), "--ids", str(ids)]) == 2
    err = capsys.readouterr().err
    assert "select 1 of their 2 images outside the val split of run/best" in err
    assert f"such as {trained_on}" in err
    assert main([*BASE, "--val-fraction", "1.5"]) == 2


def test_a_model_trained_on_other_data_uses_the_flags(mini, tmp_path, capsys):
    model = _save(tmp_path / "run", seed=1, fmt="nus-scene")
    out = tmp_path / "eval"
    assert main([*BASE, "--model", str(model), "--out", str(out)]) == 0
    assert "trained on other data" in capsys.readouterr().err
    assert _scored_ids(out) == sorted(mini.split("val").ids)
