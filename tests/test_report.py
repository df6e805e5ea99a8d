import base64
import re

import pytest
import yaml

from salmap.cli import main
from salmap.errors import SalmapError
from salmap.report import kept_models, write_report
from salmap.train import train
from tests.test_train import tiny_cfg


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, nus_mini):
    tmp = tmp_path_factory.mktemp("report")
    cfg = tiny_cfg(tmp, nus_mini, "checkpoint_epochs=[1,2]", "eval_every=2", epochs=3)
    return train(cfg)


def test_report_of_a_tiny_run(tiny_run, nus_mini):
    assert main(["report", str(tiny_run), "--images", "2"]) == 0
    report = tiny_run / "report"
    md = (report / "report.md").read_text()
    for png in ("curves.png", "comparison.png"):
        assert f"]({png})" in md and (report / png).stat().st_size > 10_000
    # every kept model and the centre bias in the table, with numbers
    for label in kept_models(tiny_run) | {"centre": None}:
        assert re.search(rf"^\| {label} \| 2 \| \d", md, re.M), label
    assert "images/s" in md and "CPU" in md and "fp32" in md
    html = (report / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 2 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert "http" not in html  # nothing fetched when it is opened
    # the existing report is not replaced without --overwrite
    assert main(["report", str(tiny_run)]) == 2
    assert main(["report", str(tiny_run), "--overwrite", "--images", "1"]) == 0


def test_report_errors(tmp_path, tiny_run):
    with pytest.raises(SalmapError, match="not a salmap train run"):
        write_report(tmp_path)
    labels = list(kept_models(tiny_run))  # epoch 3 is not kept; final's weights appear once
    assert labels[:2] == ["epoch 1", "epoch 2"] and labels[-1].endswith("final")
    assert sum(label.count("final") for label in labels) == 1
    with pytest.raises(SalmapError, match="pass --data"):
        write_report(tiny_run, data=str(tmp_path / "gone"), out=tmp_path / "r")
    assert not (tmp_path / "r").exists()
    several = tmp_path / "several"  # a run on two data sets: its ids are <tag>/<id>
    several.mkdir()
    (several / "metrics.csv").write_text((tiny_run / "metrics.csv").read_text())
    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    config["data"]["path"] = [config["data"]["path"]] * 2
    (several / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(SalmapError, match="trained on 2 data sets"):
        write_report(several, out=tmp_path / "r")
    assert not (tmp_path / "r").exists()
