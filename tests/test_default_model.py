"""The models shipped inside the package (default, accurate): load offline, predict, and beat
the centre bias."""

import numpy as np
import pytest

import salmap
from salmap import metrics
from salmap.baselines import centre_gaussian
from salmap.data import open_dataset
from salmap.models.io import DEFAULT_MODEL, read_config


def test_shipped_weights_are_small_fp16_with_their_config():
    assert DEFAULT_MODEL.is_file() and DEFAULT_MODEL.stat().st_size < 8_000_000
    meta = read_config(DEFAULT_MODEL)
    assert meta["model"]["encoder"].startswith("efficientnet_lite")
    assert meta["training"]["data"]["format"] == ["nus-scene", "osie"]
    assert meta["training"]["early_stopping"] is None  # nothing chosen on the validation split
    from safetensors import safe_open

    with safe_open(str(DEFAULT_MODEL), framework="np") as f:
        names = f.keys()
        dtypes = {f.get_slice(k).get_dtype() for k in names}
    assert "F16" in dtypes and "F32" not in dtypes


def test_default_model_loads_offline_and_predicts(nus_mini):
    model = salmap.load_model()  # "default"
    smap = model.predict(nus_mini / "images" / "258.jpg")
    assert smap.shape == (320, 240) and smap.sum() == pytest.approx(1.0, abs=1e-4)
    assert np.isfinite(smap).all() and smap.min() >= 0


def test_default_model_beats_the_centre_bias_on_unseen_images(nus_mini):
    """The bundled images are from the validation split: the model never trained on them.
    (A model trained on transposed fixations scored within 0.1 NSS of the centre bias.)"""
    model = salmap.load_model("default")
    ds = open_dataset(nus_mini)
    ours, centre = [], []
    for i in range(len(ds)):
        s = ds.sample(i)
        smap = model.predict(s["image"])
        prior = centre_gaussian(smap.shape)
        ours.append([metrics.nss(smap, s["fixations"]), metrics.cc(smap, s["saliency_map"])])
        centre.append([metrics.nss(prior, s["fixations"]), metrics.cc(prior, s["saliency_map"])])
    ours, centre = np.array(ours), np.array(centre)
    assert ours[:, 0].mean() > centre[:, 0].mean() + 0.5  # NSS: 1.88 vs 1.05 when shipped
    assert ours[:, 1].mean() > centre[:, 1].mean() + 0.15  # CC: 0.71 vs 0.45
    assert (ours[:, 0] > centre[:, 0]).sum() >= 10  # 12 of 12 when shipped


def test_shipped_onnx_export_is_small_with_fp16_weights_and_the_same_config():
    import json

    import onnx

    from salmap.export import METADATA_KEY
    from salmap.models.io import DEFAULT_ONNX

    assert DEFAULT_ONNX.is_file() and DEFAULT_ONNX.stat().st_size < 8_000_000
    proto = onnx.load(str(DEFAULT_ONNX))
    big = [t for t in proto.graph.initializer if np.prod(t.dims) >= 256]
    assert big and all(t.data_type == onnx.TensorProto.FLOAT16 for t in big)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta[METADATA_KEY])["model"] == read_config(DEFAULT_MODEL)["model"]


@pytest.mark.parametrize("suffix", [".onnx", ".fast.onnx"])
def test_shipped_onnx_exports_have_constant_pads(suffix):
    """TensorFlow's "same" padding of the EfficientNet-Lite encoder is stored as constants
    (salmap.export.static_pads), not computed from the input's shape at every call."""
    import onnx

    from salmap.models.io import shipped_file

    graph = onnx.load(str(shipped_file("default", suffix))).graph
    constants = {t.name for t in graph.initializer}
    pads = [n for n in graph.node if n.op_type == "Pad"]
    assert len(pads) == 6  # the stem, four strided depthwise convolutions and the blur
    assert all(n.input[1] in constants for n in pads)


def test_accurate_is_an_ensemble_holding_default_by_name_within_the_size_budget():
    from salmap.models.ensemble import EnsembleModel
    from salmap.models.io import shipped_file

    accurate = shipped_file("accurate")
    meta = read_config(accurate)
    members = meta["ensemble"]["members"]
    assert members[0] == {"shipped": "default"} and len(members) == 3
    assert [m["encoder"] for m in members[1:]] == ["efficientnet_lite1", "efficientnet_lite2"]
    assert meta["ensemble"]["flip_average"] is True
    assert DEFAULT_MODEL.stat().st_size + accurate.stat().st_size < 25_000_000
    model = salmap.load_model("accurate")
    assert isinstance(model, EnsembleModel)
    default = salmap.load_model("default", runner="torch")
    for a, b in zip(model.members[0].state_dict().values(), default.state_dict().values()):
        assert (a == b).all()


def test_accurate_model_predicts_and_beats_the_centre_bias(nus_mini):
    model = salmap.load_model("accurate")
    ds = open_dataset(nus_mini)
    gains = []
    for i in range(len(ds)):
        s = ds.sample(i)
        smap = model.predict(s["image"])
        assert smap.shape == s["saliency_map"].shape and smap.sum() == pytest.approx(1, abs=1e-4)
        prior = centre_gaussian(smap.shape)
        gains.append(metrics.nss(smap, s["fixations"]) - metrics.nss(prior, s["fixations"]))
    assert np.mean(gains) > 0.5 and (np.array(gains) > 0).sum() >= 10
