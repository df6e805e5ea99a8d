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

    ens = EnsembleModel(members).eval()
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
