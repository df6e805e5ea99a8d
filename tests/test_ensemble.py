"""Ensembles: a mixture of the members' maps that saves, loads, exports and predicts like a model."""

import numpy as np
import pytest
import torch

from salmap.errors import SalmapError
from salmap.models import ModelConfig, SaliencyModel, load_model
from salmap.models.ensemble import EnsembleModel


def member(seed: int, **changes) -> SaliencyModel:
    torch.manual_seed(seed)
    cfg = dict(
        encoder="tiny",
        encoder_weights=None,
        decoder="readout",
        decoder_args={"widths": [8]},
        input_size=(64, 64),
        aspect="pad",
        output="softmax",
        centre_bias=True,
        blur=True,
    )
    cfg.update(changes)
    model = SaliencyModel(ModelConfig(**cfg)).eval()
    with torch.no_grad():  # a readout that is not flat, so members differ visibly
        for p in model.decoder.parameters():
            p.normal_(0, 0.5)
    return model


@pytest.fixture(scope="module")
def members():
    return [member(1), member(2)]


def test_ensemble_map_is_the_weighted_mean_of_the_members_maps(members):
    ens = EnsembleModel(members, weights=[3, 1]).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        maps = [m.activate(m(x)) for m in members]
        got = ens.activate(ens(x))
    assert got.shape == (2, 1, 64, 64)
    assert torch.allclose(got, 0.75 * maps[0] + 0.25 * maps[1], atol=1e-7)
    assert torch.allclose(got.flatten(1).sum(1), torch.ones(2), atol=1e-5)
    assert not torch.allclose(maps[0], maps[1], atol=1e-6)


def test_flip_averaging_mixes_each_member_with_its_mirrored_map(members, tmp_path):
    ens = EnsembleModel(members, weights=[1, 3], flip_average=True).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        want = 0
        for w, m in zip([0.25, 0.75], members):
            mirrored = m.activate(m(x.flip(-1))).flip(-1)
            want = want + w * 0.5 * (m.activate(m(x)) + mirrored)
        got = ens.activate(ens(x))
        assert torch.allclose(got, want, atol=1e-7)
        plain = EnsembleModel(members, weights=[1, 3]).eval()
        assert not torch.allclose(got, plain.activate(plain(x)), atol=1e-6)
    ens.save(tmp_path / "flip")
    back = load_model(tmp_path / "flip")
    assert back.flip_average
    with torch.no_grad():
        assert torch.allclose(back.activate(back(x)), got, atol=1e-6)


def test_ensemble_saves_and_loads_as_one_file_and_predicts(members, tmp_path, nus_mini):
    ens = EnsembleModel(members)
    ens.save(tmp_path / "ens", training={"note": "test"}, half=True)
    back = load_model(tmp_path / "ens")
    assert isinstance(back, EnsembleModel) and len(back.members) == 2
    assert back.weights == pytest.approx([0.5, 0.5])
    assert back.config.encoder == "tiny+tiny" and back.training_recipe == {"note": "test"}
    image = nus_mini / "images" / "258.jpg"
    got = back.predict(image)
    want = np.mean([m.predict(image) for m in back.members], axis=0)
    assert got.shape == (320, 240) and got.sum() == pytest.approx(1.0, abs=1e-4)
    # each member's map is renormalised over the image once the padding is cut away, the
    # mixture once: equal up to the members' different mass in the padding
    assert np.abs(got - want).max() < 1e-2 * want.max()
    ref = ens.predict(image)  # fp16 storage changes the map only a little
    assert np.abs(got - ref).max() < 0.02 * ref.max()


def test_ensemble_exports_to_onnx_with_the_same_maps(members, tmp_path, nus_mini):
    pytest.importorskip("onnxruntime")
    from salmap.export import export_onnx

    ens = EnsembleModel(members, flip_average=True).eval()
    path = export_onnx(ens, tmp_path / "ens.onnx")
    onnx_model = load_model(path)
    assert onnx_model.config.encoder == "tiny+tiny"
    image = nus_mini / "images" / "258.jpg"
    a, b = onnx_model.predict(image), ens.predict(image)
    assert np.abs(a - b).max() < 1e-4 * b.max()


def test_members_must_share_preprocessing_and_output_a_softmax():
    with pytest.raises(SalmapError, match="input_size"):
        EnsembleModel([member(1), member(2, input_size=(96, 96))])
    with pytest.raises(SalmapError, match="softmax"):
        EnsembleModel([member(1), member(2, output="sigmoid")])
    with pytest.raises(SalmapError, match="weights"):
        EnsembleModel([member(1), member(2)], weights=[1, -1])
    with pytest.raises(SalmapError, match="at least one"):
        EnsembleModel([])


def test_ensemble_command_combines_saved_models(members, tmp_path, nus_mini):
    from salmap.cli import main

    recipe = {"data": {"format": "nus-scene", "split_seed": 3, "val_fraction": 0.2}}
    for k, m in enumerate(members):
        m.save(tmp_path / f"m{k}", training=recipe)
    args = ["ensemble", str(tmp_path / "m0"), str(tmp_path / "m1"), "--out", str(tmp_path / "e")]
    assert main([*args, "--weights", "1", "3"]) == 0
    ens = load_model(tmp_path / "e")
    assert ens.weights == pytest.approx([0.25, 0.75])
    assert ens.training_recipe["data"]["split_seed"] == 3  # evaluate scores the members' split
    assert main(args) == 2  # exists
    assert main([*args[:3], "--out", str(tmp_path / "f"), "--weights", "1"]) == 2
    assert main(["ensemble", str(tmp_path / "m0"), "--out", str(tmp_path / "g")]) == 2
    assert not (tmp_path / "f").exists() and not (tmp_path / "g").exists()
    assert (
        main(["ensemble", str(tmp_path / "e"), str(tmp_path / "m0"), "--out", str(tmp_path / "h")])
        == 2
    )


def test_a_shipped_member_can_be_stored_by_name(members, tmp_path, monkeypatch):
    """The shipped `accurate` keeps `default` by name: its file holds only the other members,
    and loading takes default's weights from default's own file."""
    from salmap.cli import main
    from salmap.models import io

    monkeypatch.setattr(io, "WEIGHTS_DIR", tmp_path / "weights")
    members[0].save(tmp_path / "m0", half=True)
    members[1].save(tmp_path / "m1", half=True)
    (tmp_path / "weights").mkdir()
    (tmp_path / "m0" / "model.safetensors").rename(tmp_path / "weights" / "default.safetensors")
    out = tmp_path / "acc"
    args = ["ensemble", "default", str(tmp_path / "m1"), "--half", "--out"]
    assert main([*args, str(out), "--by-name"]) == 0
    assert main([*args, str(tmp_path / "full")]) == 0
    small = (out / "model.safetensors").stat().st_size
    assert small < 0.6 * (tmp_path / "full" / "model.safetensors").stat().st_size
    (out / "model.safetensors").rename(tmp_path / "weights" / "accurate.safetensors")
    acc, full = load_model("accurate"), load_model(tmp_path / "full")
    assert acc.shipped == {0: "default"}
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(acc.activate(acc(x)), full.activate(full(x)), atol=1e-7)
    default = load_model("default")
    for a, b in zip(acc.members[0].state_dict().values(), default.state_dict().values()):
        assert torch.equal(a, b)
