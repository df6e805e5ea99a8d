"""Registries extended through entry points, without editing salmap (issue 15, point 6).

The fixture installs a tiny plugin distribution the way pip would leave it: a module and a
``.dist-info`` folder with ``entry_points.txt`` on ``sys.path``."""

import json
import shutil
import sys
import textwrap

import pytest

from salmap.cli import main
from salmap.data import NUS_MINI
from salmap.errors import SalmapError
from salmap.plugins import plugins

PLUGIN = '''
import numpy as np
import torch

from salmap.data.folder import FolderDataset
from salmap.evaluate import Metric
from salmap.models.decoders import FPNDecoder


class MineDataset(FolderDataset):
    """The folder layout, recognised by a MINE marker file."""

    format = "osie-mine"

    @staticmethod
    def find_root(path):
        return path if (path / "MINE").is_file() else None


def peak_fixated(smap, truth, fixations, convention):
    """Fraction of fixations on pixels above the map's median."""
    cols, rows = fixations[:, 0].astype(int), fixations[:, 1].astype(int)
    return float(np.mean(smap[rows, cols] > np.median(smap)))


PEAK = Metric("Peak", "fixations", peak_fixated)
CLASH = Metric("NSS again", "fixations", peak_fixated)


class MineDecoder(FPNDecoder):
    pass


def mine_loss(logits, target, fixations=None):
    return torch.zeros((), requires_grad=True)
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Installs the plugin's entry points (``extra`` adds lines under [salmap.metrics])."""

    def install(extra=""):
        site = tmp_path / "site"
        site.mkdir(exist_ok=True)
        (site / "mine_plugin.py").write_text(PLUGIN)
        info = site / "mine_plugin-1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\\nName: mine-plugin\\nVersion: 1.0\\n"
        )
        (info / "entry_points.txt").write_text(
            textwrap.dedent(
                """
                [salmap.datasets]
                osie-mine = mine_plugin:MineDataset
                [salmap.metrics]
                peak = mine_plugin:PEAK
                """
            )
            + extra
            + textwrap.dedent(
                """
                [salmap.decoders]
                mine = mine_plugin:MineDecoder
                [salmap.losses]
                mine = mine_plugin:mine_loss
                """
            )
        )
        monkeypatch.syspath_prepend(str(site))
        plugins.cache_clear()

    yield install
    plugins.cache_clear()
    sys.modules.pop("mine_plugin", None)
    from salmap.evaluate import METRICS
    from salmap.models.decoders import DECODERS

    METRICS.pop("peak", None)
    DECODERS.pop("mine", None)


def test_a_plugin_format_and_metric_work_from_the_command_line(plugin, tmp_path):
    plugin()
    data = tmp_path / "data"
    shutil.copytree(NUS_MINI, data)
    (data / "MINE").write_text("")
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(data), "--format", "osie-mine", "--split", "all"]
    assert main([*args, "--metrics", "nss,peak", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["format"] == "osie-mine" and summary["metrics"] == ["nss", "peak"]
    peak = summary["predictors"]["centre"]["metrics"]["peak"]["mean"]
    assert 0.5 < peak <= 1.0  # the centre is above its median where people look
    # and the layout is recognised without --format
    assert main(["datasets", "info", str(data)]) in (0, 1)


def test_plugin_decoder_and_loss(plugin):
    plugin()
    from salmap.losses import CombinedLoss
    from salmap.models.decoders import create_decoder

    decoder = create_decoder("mine", [8, 8, 16, 16, 24], [2, 4, 8, 16, 32])
    assert type(decoder).__name__ == "MineDecoder"
    assert CombinedLoss({"mine": 1.0}).weights == {"mine": 1.0}


def test_without_the_plugin_the_names_are_unknown(capsys):
    plugins.cache_clear()
    assert main(["evaluate", "--data", str(NUS_MINI), "--metrics", "peak"]) == 2
    assert "unknown metric 'peak'" in capsys.readouterr().err


def test_a_plugin_cannot_replace_a_builtin(plugin):
    plugin("nss = mine_plugin:CLASH\n")
    from salmap.evaluate import check_metrics

    with pytest.raises(SalmapError, match="would replace salmap's own 'nss'"):
        check_metrics(["nss"])
