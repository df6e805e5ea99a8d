"""The fast map for cropping: windows searched on a smaller map and placed on the image, the
model at a smaller input, its int8 export, and the commands' options that use them."""

import json

import numpy as np
import pytest
from PIL import Image

import salmap
from salmap.cli import main
from salmap.cropping import best_window, best_windows, window_size
from salmap.errors import SalmapError

ASPECTS = ["1:1", "16:9", "4:5", "9:16"]


def blobs(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth density: a few Gaussian blobs of random places, sizes and weights."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    m = np.zeros((h, w))
    for _ in range(3):
        cx, cy, s = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.04, 0.15) * max(h, w)
        m += rng.uniform(0.2, 1) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s**2))
    return m / m.sum()


def shrink(m: np.ndarray, side: int) -> np.ndarray:
    h, w = m.shape
    s = side / max(h, w)
    small = Image.fromarray(m.astype(np.float32)).resize((round(w * s), round(h * s)))
    return np.asarray(small)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("zoom", [1.0, 0.5])
def test_windows_found_on_a_smaller_map_are_the_images_and_nearly_as_good(seed, zoom):
    height, width = [(600, 900), (900, 600), (480, 1280)][seed % 3]
    full = blobs(height, width, seed)
    small = shrink(full, 128)
    found = best_windows(small, ASPECTS, zoom, image_size=(width, height))
    for aspect in ASPECTS:
        x0, y0, x1, y1 = found[aspect].box
        assert (x1 - x0, y1 - y0) == window_size(width, height, aspect, zoom)
        assert x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height
        best = best_window(full, aspect, zoom)
        held = full[y0:y1, x0:x1].sum()
        assert held >= best.attention - 0.02  # a pixel of the map is 5-10 of the image's


def test_a_map_of_the_images_size_is_searched_as_it_is():
    m = blobs(120, 160, 1)
    assert best_windows(m, ASPECTS, 0.5, image_size=(160, 120)) == best_windows(m, ASPECTS, 0.5)


def test_keep_boxes_stay_in_the_images_pixels():
    full = blobs(600, 900, 2)
    small = shrink(full, 100)
    keep = [(31, 417, 97, 489), (880, 10, 899, 40)]
    found = best_windows(small, ["16:9"], 1.0, image_size=(900, 600), keep=keep)
    x0, y0, x1, y1 = found["16:9"].box
    assert all(x0 <= a and y0 <= b and x1 >= c and y1 >= d for a, b, c, d in keep)
    with pytest.raises(SalmapError, match=r"900x600 image is 300x300"):
        best_windows(small, ["1:1"], 0.5, image_size=(900, 600), keep=[(0, 0, 800, 100)])


def test_a_model_at_another_input_size_keeps_its_weights(tiny_saved_model):
    from salmap.models.io import at_input_size

    model = salmap.load_model(tiny_saved_model, runner="torch")
    small = at_input_size(model, 32)
    assert small.config.input_size == (32, 32) and model.config.input_size != (32, 32)
    for (k, a), b in zip(model.state_dict().items(), small.state_dict().values()):
        assert a.shape == b.shape and bool((a == b).all()), k
    density = small.predict(np.zeros((48, 64, 3), np.uint8))
    assert density.shape == (48, 64) and abs(density.sum() - 1) < 1e-4


def test_int8_export_runs_and_keeps_the_map(tiny_saved_model, nus_mini, tmp_path):
    from salmap.export import OnnxModel, export_onnx, quantize_int8

    model = salmap.load_model(tiny_saved_model, runner="torch")
    fp32 = export_onnx(model, tmp_path / "fp32.onnx")
    photos = sorted((nus_mini / "images").glob("*.jpg"))
    int8 = quantize_int8(fp32, tmp_path / "int8.onnx", photos[:4])
    quantized, exact = OnnxModel(int8), OnnxModel(fp32)
    assert quantized.config.input_size == exact.config.input_size  # salmap's metadata kept
    a, b = quantized.predict(photos[5]), exact.predict(photos[5])
    assert a.shape == b.shape and np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


def test_crop_map_fast_and_full(tiny_saved_model, nus_mini, tmp_path):
    photo = sorted((nus_mini / "images").glob("*.jpg"))[0]
    width, height = Image.open(photo).size
    lines = {}
    for kind in ("fast", "full"):
        out = tmp_path / kind
        args = ["crop", str(photo), "--model", str(tiny_saved_model), "--out", str(out)]
        assert main([*args, "--map", kind, "--save", "crop,preview"]) == 0
        (lines[kind],) = [json.loads(x) for x in (out / "crops.jsonl").read_text().splitlines()]
        assert (lines[kind]["width"], lines[kind]["height"]) == (width, height)
        for aspect, crop in lines[kind]["crops"].items():
            x0, y0, x1, y1 = crop["box"]
            assert (x1 - x0, y1 - y0) == window_size(width, height, aspect)
            name = f"{photo.stem}_crop_{x1 - x0}x{y1 - y0}.jpg"
            assert Image.open(out / name).size == (x1 - x0, y1 - y0)
    density = salmap.load_model(tiny_saved_model).predict(photo)
    for aspect, crop in lines["full"]["crops"].items():
        assert crop["box"] == list(best_window(density, aspect).box)


def test_predict_fast_needs_a_fast_export(tiny_saved_model, nus_mini, tmp_path, capsys):
    args = ["predict", str(nus_mini / "images"), "--model", str(tiny_saved_model)]
    assert main([*args, "--out", str(tmp_path / "o"), "--fast"]) == 2
    assert "no fast export" in capsys.readouterr().err


def test_onnxruntime_keeps_to_the_cpus_the_process_may_use(tiny_saved_model, tmp_path):
    import os

    from salmap.export import OnnxModel, export_onnx, usable_cpus

    path = export_onnx(salmap.load_model(tiny_saved_model, runner="torch"), tmp_path / "m.onnx")
    if hasattr(os, "sched_getaffinity"):
        assert usable_cpus() == len(os.sched_getaffinity(0))
    options = OnnxModel(path).session.get_session_options()
    assert options.intra_op_num_threads == usable_cpus()
    assert OnnxModel(path, threads=1).session.get_session_options().intra_op_num_threads == 1
