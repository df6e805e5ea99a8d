import json

import pytest

from salmap.cli import main


def test_info_on_bundled_subset(nus_mini, capsys):
    assert main(["datasets", "info", str(nus_mini)]) == 0
    out = capsys.readouterr().out
    assert "images: 12" in out and "subjects: 12" in out and "problems: none" in out


def test_info_json_and_bad_folder(tmp_path, capsys):
    assert main(["datasets", "info", str(tmp_path)]) == 2
    assert "no known dataset layout" in capsys.readouterr().err


@pytest.mark.shared
def test_info_on_nus_scene(nus_scene, capsys):
    assert main(["datasets", "info", str(nus_scene), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 500 and info["subjects"] == 12
    assert info["fixations"]["total"] == 43894
    assert info["problems"] == []
