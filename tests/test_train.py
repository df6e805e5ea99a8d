import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from replicas import make_osie
from safetensors.torch import load_file

from salmap import leakage
from salmap.cli import main
from salmap.data import open_dataset
from salmap.errors import SalmapError
from salmap.losses import CombinedLoss
from salmap.models import ModelConfig, SaliencyModel, load_model
from salmap.train import load_config, train
from salmap.train import loop as loop_mod

TINY = [
    "model.encoder=tiny",
    "model.encoder_weights=null",
    "model.input_size=[64,64]",
    "model.decoder=fpn",
    "model.decoder_args={width: 16}",
    "data.workers=0",
    "batch_size=4",
]


def tiny_cfg(tmp_path, data, *extra, epochs=2, out="run"):
    return load_config(
        None,
        TINY
        + [
            f"data.path={data}",
            f"data.cache_dir={tmp_path / 'cache'}",
            f"out={tmp_path / out}",
            f"epochs={epochs}",
            *extra,
        ],
    )


def test_seed_config_is_the_seed_recipe():
    cfg = load_config("configs/seed.yaml")
    assert cfg.model.encoder == "resnet50" and cfg.model.decoder == "seed"
    assert cfg.model.input_size == (512, 512) and cfg.model.output == "sigmoid"
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.momentum) == ("sgd", 1e-4, 0.0)
    assert cfg.loss == {"bce": 1.0} and cfg.batch_size == 4 and cfg.epochs == 200
    assert cfg.checkpoint_epochs == [50, 100, 200] and cfg.data.val_fraction == 0.2


def test_overrides_and_bad_keys():
    cfg = load_config("configs/seed.yaml", ["optim.lr=0.01", "loss={kld: 1, cc: -0.1}"])
    assert cfg.optim.lr == 0.01 and cfg.loss == {"kld": 1, "cc": -0.1}
    with pytest.raises(SalmapError, match="unknown optim settings: lrate"):
        load_config(None, ["optim.lrate=1"])
    with pytest.raises(SalmapError, match="key=value"):
        load_config(None, ["epochs"])


def test_loss_falls_when_overfitting_a_few_samples():
    torch.manual_seed(0)
    model = SaliencyModel(
        ModelConfig(
            encoder="tiny",
            encoder_weights=None,
            decoder="unet",
            decoder_args={"widths": [16, 16, 8]},
            input_size=(64, 64),
            output="softmax",
            centre_bias=True,
            blur=True,
        )
    )
    x = torch.zeros(4, 3, 64, 64)
    target = torch.zeros(4, 1, 64, 64)
    for i, (r, c) in enumerate([(10, 12), (40, 20), (30, 50), (50, 45)]):
        x[i, :, r - 4 : r + 4, c - 4 : c + 4] = 2.0  # a bright square where people look
        target[i, 0, r - 6 : r + 6, c - 6 : c + 6] = 1.0
    loss_fn = CombinedLoss({"kld": 1.0})
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(40):
        loss, _ = loss_fn(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_train_command_writes_a_complete_run(tmp_path, nus_mini):
    args = [
        "train",
        "configs/seed.yaml",
        "--data",
        str(nus_mini),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "2",
        "--set",
        "checkpoint_epochs=[1]",
        "--set",
        f"data.cache_dir={tmp_path / 'c'}",
    ]
    for item in TINY:
        args += ["--set", item]
    assert main(args) == 0
    run = tmp_path / "run"
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for key in ("train_loss", "val_loss", "train_ssim", "val_ssim", "val_cc", "val_nss"):
        assert rows[-1][key] not in ("", "nan")
    assert (run / "curves.png").stat().st_size > 10_000
    assert any((run / "tb").iterdir())
    assert load_config(run / "config.yaml").epochs == 2
    for name in ("best", "final", "epoch_001"):
        model = load_model(run / "models" / name)
        assert model.predict(nus_mini / "images" / "048.jpg").shape == (320, 320)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 2
    assert set(json.loads((run / "split.json").read_text())) == {"train", "val"}
    # the saved models record their training images by content (salmap.leakage)
    train_ids = json.loads((run / "split.json").read_text())["train"]
    data = open_dataset(nus_mini)
    expected = leakage.record([data.subset([data.ids.index(i) for i in train_ids])])
    assert expected["count"] == len(train_ids)
    assert load_model(run / "models" / "final").training_recipe[leakage.KEY] == expected
    assert main(args) == 2  # refuses to overwrite the run without --resume


def test_resume_matches_an_unbroken_run(tmp_path, nus_mini, monkeypatch):
    extra = ["optim.name=adam", "optim.lr=0.001", "optim.scheduler=cosine", "data.hflip=0.5"]
    train(tiny_cfg(tmp_path, nus_mini, *extra, out="straight"))

    real = loop_mod.Trainer.run_epoch

    def crash_in_epoch_two(self, name, epoch, **kw):
        if epoch == 1 and name == "train":
            raise KeyboardInterrupt
        return real(self, name, epoch, **kw)

    monkeypatch.setattr(loop_mod.Trainer, "run_epoch", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_cfg(tmp_path, nus_mini, *extra, out="broken"))
    assert (
        torch.load(tmp_path / "broken" / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1
    )
    monkeypatch.setattr(loop_mod.Trainer, "run_epoch", real)
    train(tiny_cfg(tmp_path, nus_mini, *extra, out="broken"), resume=True)

    a = load_file(tmp_path / "straight" / "models" / "final" / "model.safetensors")
    b = load_file(tmp_path / "broken" / "models" / "final" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    with open(tmp_path / "broken" / "metrics.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2"]


def test_non_finite_loss_stops_and_keeps_the_checkpoint(tmp_path, nus_mini, monkeypatch):
    real = loop_mod.CombinedLoss.__call__

    def poisoned(self, logits, target, fix=None):
        loss, parts = real(self, logits, target, fix)
        return (loss * float("nan"), parts) if self._epoch_two else (loss, parts)

    cfg = tiny_cfg(tmp_path, nus_mini, epochs=2)
    monkeypatch.setattr(loop_mod.CombinedLoss, "__call__", poisoned)
    monkeypatch.setattr(loop_mod.CombinedLoss, "_epoch_two", False, raising=False)
    real_epoch = loop_mod.Trainer.run_epoch

    def epoch_hook(self, name, epoch, **kw):
        loop_mod.CombinedLoss._epoch_two = epoch == 1
        return real_epoch(self, name, epoch, **kw)

    monkeypatch.setattr(loop_mod.Trainer, "run_epoch", epoch_hook)
    with pytest.raises(
        loop_mod.TrainingError, match=r"non-finite loss .* epoch 2, train step 1.*last.pt"
    ):
        train(cfg)
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1


def test_frozen_encoder_does_not_change(tmp_path, nus_mini):
    cfg = tiny_cfg(
        tmp_path, nus_mini, "optim.encoder_lr=0", "optim.name=adam", "optim.lr=0.01", epochs=1
    )
    torch.manual_seed(cfg.seed)
    initial = SaliencyModel(cfg.model).state_dict()  # the run draws the same initial weights
    final = load_model(train(cfg) / "models" / "final").state_dict()
    for k, v in initial.items():
        if k.startswith("encoder."):
            torch.testing.assert_close(final[k], v, rtol=0, atol=0, msg=k)
    assert any(not torch.equal(final[k], v) for k, v in initial.items() if k.startswith("decoder."))


def _rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_train_on_two_datasets_reports_each(tmp_path, nus_mini):
    osie = make_osie(tmp_path / "o", n=6)
    args = ["train", "--data", str(nus_mini), "--data", str(osie), "--out", str(tmp_path / "run")]
    args += ["--epochs", "1", "--set", f"data.cache_dir={tmp_path / 'c'}"]
    for item in TINY + ["optim.name=adam", "loss={kld: 1}", "model.output=softmax"]:
        args += ["--set", item]
    assert main(args) == 0
    run = tmp_path / "run"
    split = json.loads((run / "split.json").read_text())
    assert len(split["train"]) == 10 + 5 and len(split["val"]) == 2 + 1
    assert {i.split("/")[0] for i in split["val"]} == {"nus_mini", "osie"}
    assert len(split["datasets"]["osie"]["train"]) == 5 and "1001" in str(split["datasets"])
    (row,) = _rows(run)
    per = {t: float(row[f"val_{t}_nss"]) for t in ("nus_mini", "osie")}
    assert float(row["val_nss"]) == pytest.approx((2 * per["nus_mini"] + per["osie"]) / 3, rel=1e-4)
    for t in ("nus_mini", "osie"):
        for m in ("loss", "ssim", "cc"):
            assert row[f"val_{t}_{m}"] not in ("", "nan")
    assert load_config(run / "config.yaml").data.path == [str(nus_mini), str(osie)]
    # the saved model records the formats that were guessed (evaluate's split needs them)
    recipe = load_model(run / "models" / "final").training_recipe
    assert recipe["data"]["format"] == ["folder", "osie"]
    with pytest.raises(SalmapError, match="2 formats for 1 data.path"):
        load_config(None, ["data.path=x", "data.format=[osie, folder]"]).data.sources()


def test_repeat_shows_a_small_set_several_times_an_epoch(tmp_path, nus_mini):
    """data.repeat: each epoch sees the second folder's 5 training images 3 times (10 + 15
    images); a bad count is refused before any data is read."""
    osie = make_osie(tmp_path / "o", n=6)
    args = ["train", "--data", str(nus_mini), "--data", str(osie), "--out", str(tmp_path / "run")]
    args += ["--epochs", "1", "--set", f"data.cache_dir={tmp_path / 'c'}"]
    for item in TINY + ["optim.name=adam", "loss={kld: 1}", "model.output=softmax"]:
        args += ["--set", item]
    assert main([*args, "--set", "data.repeat=[1, 3]"]) == 0
    with open(tmp_path / "run" / "steps.csv") as f:
        (row,) = csv.DictReader(f)
    assert int(row["images"]) == 10 + 3 * 5
    assert main([*args, "--set", "data.repeat=[1, 0]", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()
    with pytest.raises(SalmapError, match=r"one per data.path folder \(2\), got \[2\]"):
        load_config(None, ["data.path=[a, b]", "data.repeat=[2]"]).data.repeats()


def test_frozen_encoder_trains_from_cached_features_as_from_images(tmp_path, nus_mini):
    """The features are computed once into the cache; training from them gives the same run
    (up to their float16 rounding) as running the frozen encoder on every image."""
    extra = [
        "model.decoder=readout",
        "model.decoder_args={widths: [8], dropout: 0}",
        "model.output=softmax",
        "model.centre_bias=true",
        "loss={kld: 1}",
        "optim.name=adam",
        "optim.lr=0.01",
        "optim.encoder_lr=0",
        "data.hflip=0.5",
    ]
    images = train(tiny_cfg(tmp_path, nus_mini, *extra, "data.cache_features=false", out="images"))
    assert not list((tmp_path / "cache").glob("*/features-*"))
    feats = train(tiny_cfg(tmp_path, nus_mini, *extra, out="features"))
    built = list((tmp_path / "cache").glob("*/features-*/level0.npy"))
    assert len(built) == 2  # train (with mirror images) and val
    for ra, rb in zip(_rows(images), _rows(feats)):
        for k in ("train_loss", "val_loss", "val_nss"):
            assert float(rb[k]) == pytest.approx(float(ra[k]), rel=2e-3), k
    image = nus_mini / "images" / "048.jpg"
    pa = load_model(images / "models" / "final").predict(image)
    pb = load_model(feats / "models" / "final").predict(image)
    assert np.abs(pb - pa).max() < 0.01 * pa.max()
    stamp = built[0].stat().st_mtime_ns  # a second run reuses them
    train(tiny_cfg(tmp_path, nus_mini, *extra, out="again", epochs=1))
    assert built[0].stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(tmp_path, nus_mini):
    """torchrun with 2 gloo processes: the ranks finish with identical weights."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29517",
        "-m",
        "salmap.cli",
        "train",
        "--data",
        str(nus_mini),
        "--out",
        str(tmp_path / "ddp"),
        "--epochs",
        "2",
        "--device",
        "cpu",
        "--set",
        f"data.cache_dir={tmp_path / 'c'}",
    ]
    for item in TINY:
        cmd += ["--set", item]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    sums = json.loads((tmp_path / "ddp" / "ddp_ranks.json").read_text())["checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]
    with open(tmp_path / "ddp" / "metrics.csv") as f:
        assert len(list(csv.DictReader(f))) == 2


def test_resume_uses_the_runs_own_config_and_refuses_changes(tmp_path, nus_mini, capsys):
    cfg = tiny_cfg(tmp_path, nus_mini, epochs=1)
    run = train(cfg)
    with open(run / "metrics.csv", "a") as f:  # a row logged just before a crash
        f.write("2,1,1,1,1,1,1,1,1,1\n")
    # no CONFIG argument: the run's config.yaml, with a longer run asked for
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2"]) == 0
    with open(run / "metrics.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2"]
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--lr", "0.5"]) == 2
    assert "optim.lr: 0.0001 -> 0.5" in capsys.readouterr().err


def test_loss_must_suit_the_output(tmp_path, nus_mini):
    with pytest.raises(SalmapError, match="'kld' does not suit model.output='sigmoid'"):
        train(tiny_cfg(tmp_path, nus_mini, "loss={kld: 1}", epochs=1))


NAIVE = [
    "amp=none",
    "channels_last=false",
    "data_on_device=false",
    "fused_optimizer=false",
    "log_every=1",
]
FAST = [
    "amp=none",  # bf16 is the fast path's default on CUDA only
    "channels_last=true",
    "data_on_device=true",
    "fused_optimizer=true",
    "log_every=2",
]


def test_device_batches_are_the_loaders_batches(tmp_path, nus_mini):
    """Held on the device, flipped and normalised there: the same samples, flips (image, map
    and fixations alike) and order as the DataLoader path."""
    from torch.utils.data.distributed import DistributedSampler

    from salmap.data import open_dataset
    from salmap.data.cache import build_cache
    from salmap.data.transforms import Normalize
    from salmap.train.batches import CachedSet, DeviceBatches, LoaderBatches

    cache = build_cache(open_dataset(nus_mini), (48, 64), "pad", tmp_path / "c")
    data = CachedSet(cache, Normalize([0.4, 0.5, 0.6], [0.2, 0.3, 0.25]), hflip=0.5, seed=3)
    sampler = DistributedSampler(data, 1, 0, shuffle=True, seed=3)
    cpu = torch.device("cpu")
    loader = LoaderBatches(data, sampler, 5, 0, cpu)
    device = DeviceBatches(data, sampler, 5, cpu)
    flipped = 0
    for epoch in (0, 1):
        a, b = list(loader.epoch(epoch)), list(device.epoch(epoch))
        assert len(a) == len(b) == len(loader) == 3
        for (ia, ta), (ib, tb) in zip(a, b):
            assert ia == ib
            for u, v in zip(ta, tb):
                torch.testing.assert_close(u, v, rtol=0, atol=0)
        flipped += sum(
            bool((tb[0][k] != torch.from_numpy(data.normalize(cache.images[i]))).any())
            for ib, tb in b
            for k, i in enumerate(ib)
        )
    assert 0 < flipped < 2 * len(data)  # some mirrored, some not


def test_fast_path_trains_like_the_plain_loop(tmp_path, nus_mini):
    """Same seed, same recipe: the device-held data, channels_last, the fused optimiser and
    reading the losses every 2 steps give the plain loop's losses and weights."""
    extra = ["optim.name=adam", "optim.lr=0.003", "data.hflip=0.5", "eval_every=0"]
    naive = train(tiny_cfg(tmp_path, nus_mini, *extra, *NAIVE, epochs=3, out="naive"))
    fast = train(tiny_cfg(tmp_path, nus_mini, *extra, *FAST, epochs=3, out="fast"))
    runs = []
    for run in (naive, fast):
        with open(run / "metrics.csv") as f:
            runs.append([(float(r["train_loss"]), float(r["val_loss"])) for r in csv.DictReader(f)])
    assert runs[0][-1][0] < runs[0][0][0]  # it learned something
    torch.testing.assert_close(torch.tensor(runs[0]), torch.tensor(runs[1]), rtol=1e-4, atol=1e-5)
    a = load_file(naive / "models" / "final" / "model.safetensors")
    b = load_file(fast / "models" / "final" / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-5, msg=k)
    with open(fast / "steps.csv") as f:
        steps = list(csv.DictReader(f))
    assert [r["step"] for r in steps if r["epoch"] == "1"] == ["2", "3"]  # 9 images, batch 4
    info = json.loads((fast / "run.json").read_text())["sessions"][0]
    assert info["speed"]["train"] == "DeviceBatches" and info["to_epoch"] == 3


def test_validation_metrics_are_evaluates(tmp_path, nus_mini):
    """val_cc, val_nss and val_kld in metrics.csv are what salmap evaluate gives the same
    weights on the run's validation split (maps at each image's resolution), not figures of
    the 64 x 64 input frame."""
    from salmap.data import open_dataset
    from salmap.evaluate import evaluate, summarize

    run = train(tiny_cfg(tmp_path, nus_mini, "data.split_seed=5", "model.aspect=pad", epochs=1))
    with open(run / "metrics.csv") as f:
        logged = next(csv.DictReader(f))
    part = open_dataset(nus_mini).split("val", 0.2, 5)
    model = load_model(run / "models" / "final")
    metrics = ("cc", "nss", "kld")
    summary = summarize(evaluate(part, {"m": model.predict}, split="all", metrics=metrics), metrics)
    for m in metrics:
        assert float(logged[f"val_{m}"]) == pytest.approx(
            summary["m"]["metrics"][m]["mean"], rel=1e-4
        ), m


def test_curves_show_cc_and_nss(tmp_path):
    from salmap.viz import training_curves_figure

    rows = [
        {"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "val_cc": 0.3, "val_nss": 0.9},
        {"epoch": 2, "train_loss": 0.9, "val_loss": 1.0, "val_cc": float("nan")},
    ]
    fig = training_curves_figure(rows)
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith("CC (as salmap evaluate") for t in titles)
    assert any(t.startswith("NSS (as salmap evaluate") for t in titles)
    assert any(t.startswith("Loss (input frame") for t in titles)
    cc_axis = fig.axes[[t.startswith("CC") for t in titles].index(True)]
    assert list(cc_axis.lines[0].get_ydata()) == [0.3]  # the epoch without a score is left out


@pytest.mark.parametrize(
    "setting, message",
    [
        ("compile=fast", "compile must be one of none, default"),
        ("data_on_device=maybe", "data_on_device must be true, false or auto"),
        ("channels_last=sometimes", "channels_last must be true, false or auto"),
        ("log_every=0", "log_every must be at least 1"),
    ],
)
def test_speed_settings_are_checked(tmp_path, nus_mini, setting, message):
    with pytest.raises(SalmapError, match=message):
        train(tiny_cfg(tmp_path, nus_mini, setting, epochs=1))


def test_encoder_features_on_onnxruntime_equal_pytorchs():
    """The frozen encoder's features come from onnxruntime on the CPU when it is installed;
    they must be PyTorch's (up to float rounding), level for level."""
    pytest.importorskip("onnxruntime")
    from salmap.train.features import encoder_levels

    model = SaliencyModel(
        ModelConfig(encoder="tiny", decoder="readout", input_size=(64, 64), output="softmax")
    ).eval()
    x = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)
    ref = encoder_levels(model, "cpu", runner="torch")(x)
    got = encoder_levels(model, "cpu", runner="onnx")(x)
    assert len(got) == len(ref) == len(model.encoder.out_channels) - 2
    for a, b in zip(got, ref):
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()


def test_training_ssim_equals_torchmetrics():
    """The loop's SSIM (separable depthwise window) is torchmetrics' SSIM, image for image."""
    from torchmetrics.functional.image import structural_similarity_index_measure as reference

    from salmap.train.loop import ssim

    gen = torch.Generator().manual_seed(0)
    for shape in [(3, 1, 64, 64), (2, 1, 40, 72)]:
        x = torch.rand(shape, generator=gen) ** 3
        y = torch.rand(shape, generator=gen)
        want = reference(x, y, data_range=1.0, reduction="none")
        assert torch.allclose(ssim(x, y), want, atol=1e-6)
        assert torch.allclose(ssim(y, y), torch.ones(shape[0]), atol=1e-6)


def test_training_ssim_can_be_left_out(tmp_path, nus_mini):
    """train_ssim=false skips the per-step SSIM of the training split (the column is empty),
    keeps the validation SSIM, and trains the same model."""
    on = train(tiny_cfg(tmp_path, nus_mini, "optim.name=adam", out="on", epochs=1))
    off = train(
        tiny_cfg(tmp_path, nus_mini, "optim.name=adam", "train_ssim=false", out="off", epochs=1)
    )
    a, b = _rows(on)[0], _rows(off)[0]
    assert float(a["train_ssim"]) > 0 and b["train_ssim"] in ("", "nan")
    assert float(b["val_ssim"]) == pytest.approx(float(a["val_ssim"]), rel=1e-5)
    assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-5)
    assert (off / "curves.png").is_file()
