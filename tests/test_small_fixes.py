"""The small ones of issue 15 (point 7): salmap.metrics as an attribute, help texts as a
terminal shows them, salmap compare on folders of predictions."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from salmap import baselines as B
from salmap.cli import COMMANDS, main


def test_submodules_are_attributes_of_the_package():
    code = "import salmap; print(salmap.metrics.nss.__name__, salmap.evaluate.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["nss", "salmap.evaluate"]
    with pytest.raises(AttributeError):
        import salmap

        salmap.no_such_thing  # noqa: B018


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_texts_read_as_plain_text(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and "%%" not in text
    if command == "evaluate":
        assert "95% bootstrap" in text


def test_compare_accepts_folders_of_predictions(nus_mini, tmp_path, capsys):
    preds = tmp_path / "theirs"
    preds.mkdir()
    for stem in ("048", "078"):
        h, w = np.asarray(Image.open(nus_mini / "images" / f"{stem}.jpg")).shape[:2]
        np.save(preds / f"{stem}.npy", B.centre_gaussian((h // 2, w // 2)))
    out = tmp_path / "fig.png"
    images = [str(nus_mini / "images" / f"{s}.jpg") for s in ("048", "078")]
    args = ["compare", "--images", *images, "--predictions", str(preds), "--out", str(out)]
    assert main(args) == 0 and out.stat().st_size > 0
    (preds / "078.npy").unlink()
    assert main([*args, "--overwrite"]) == 2
    assert "no prediction for 078" in capsys.readouterr().err
