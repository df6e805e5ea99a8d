"""``salmap predict --save log-density`` and ``--naming image`` (issue 15, points 2 and 7)."""

import numpy as np
import pytest

from salmap.cli import main


@pytest.fixture(scope="module")
def tiny_model(tiny_saved_model):
    return tiny_saved_model


def test_log_density_output_is_the_log_of_the_density(tiny_model, nus_mini, tmp_path):
    image = nus_mini / "images" / "078.jpg"
    args = ["predict", str(image), "--model", str(tiny_model), "--out", str(tmp_path)]
    assert main([*args, "--save", "density,log-density"]) == 0
    density = np.load(tmp_path / "078_density.npy")
    log = np.load(tmp_path / "078_logdensity.npy")
    assert log.shape == density.shape == (240, 320) and log.max() < 0
    assert np.exp(log.astype(np.float64)).sum() == pytest.approx(1, abs=1e-4)
    np.testing.assert_allclose(np.exp(log), density, rtol=1e-3, atol=1e-12)


def test_naming_image_writes_the_images_own_name(tiny_model, nus_mini, tmp_path, capsys):
    image = nus_mini / "images" / "078.jpg"
    args = ["predict", str(image), "--model", str(tiny_model), "--naming", "image"]
    assert main([*args, "--out", str(tmp_path / "a"), "--save", "map,density"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "078.npy",
        "078.png",
        "manifest.jsonl",
    ]
    assert main([*args, "--out", str(tmp_path / "b"), "--save", "density,log-density"]) == 2
    assert "two outputs to one file name" in capsys.readouterr().err
