import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from salmap.cli import main
from salmap.models import ModelConfig, SaliencyModel, load_model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny"
    cfg = ModelConfig(
        encoder="tiny",
        encoder_weights=None,
        decoder="unet",
        decoder_args={"widths": [16, 16, 8]},
        input_size=(64, 64),
        aspect="pad",
        output="softmax",
        centre_bias=True,
        blur=True,
    )
    SaliencyModel(cfg).eval().save(path)
    return path


@pytest.fixture
def odd_images(tmp_path):
    """One image per awkward mode, in a nested folder, plus a corrupt file."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(rgb[..., 0]).save(root / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((40, 60), 128, np.uint8)])).save(root / "rgba.png")
    Image.fromarray(rgb).convert("P").save(root / "palette.gif")
    Image.fromarray(rgb).convert("CMYK").save(root / "sub" / "cmyk.jpg")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(root / "sub" / "deep.png")
    Image.fromarray(rgb).save(root / "sub" / "photo.webp")
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 8
    im.save(root / "rotated.jpg", exif=exif)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return root


def predict_args(inputs, model, out, *options) -> list[str]:
    """The command line of ``salmap predict INPUTS --model MODEL --out OUT [OPTIONS]``."""
    return ["predict", *map(str, inputs), "--model", str(model), "--out", str(out), *options]


def test_predict_any_image_mirrors_the_tree(tiny_model, odd_images, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        predict_args(
            [odd_images],
            tiny_model,
            out,
            "--save",
            "map,density,overlay,side-by-side",
            "--batch-size",
            "3",
        )
    )
    assert code == 1  # broken.jpg skipped
    text = capsys.readouterr()
    assert "7 image(s) done, 1 skipped" in text.out and "broken.jpg" in text.err
    for stem, shape in [
        ("gray", (40, 60)),
        ("rgba", (40, 60)),
        ("palette", (40, 60)),
        ("sub/cmyk", (40, 60)),
        ("sub/deep", (40, 60)),
        ("sub/photo", (40, 60)),
        ("rotated", (60, 40)),
    ]:
        density = np.load(out / f"{stem}_density.npy")
        assert density.shape == shape and density.sum() == pytest.approx(1.0, abs=1e-4), stem
        smap = np.asarray(Image.open(out / f"{stem}_map.png"))
        assert smap.shape == shape and smap.max() == 255
        assert np.asarray(Image.open(out / f"{stem}_overlay.jpg")).shape == (*shape, 3)
        assert np.asarray(Image.open(out / f"{stem}_side.jpg")).shape == (shape[0], 2 * shape[1], 3)
    assert not list(out.rglob("*.tmp"))


def test_predict_refuses_to_overwrite(tiny_model, nus_mini, tmp_path, capsys):
    out = tmp_path / "out"
    args = predict_args([nus_mini / "images" / "048.jpg"], tiny_model, out)
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["048_map.png", "048_overlay.jpg"]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite", "--bits", "16"]) == 0
    assert np.asarray(Image.open(out / "048_map.png")).max() == 65535


def test_predict_globs_and_missing_inputs(tiny_model, nus_mini, tmp_path, capsys):
    out = tmp_path / "out"
    inputs = [nus_mini / "images" / "0*.jpg", tmp_path / "nope.jpg"]
    code = main(predict_args(inputs, tiny_model, out, "--save", "map"))
    assert code == 1 and (out / "048_map.png").is_file() and (out / "078_map.png").is_file()
    assert "nope.jpg: no such file" in capsys.readouterr().err


def test_python_api_accepts_paths_pil_and_arrays(tiny_model, nus_mini):
    model = load_model(tiny_model)
    path = nus_mini / "images" / "258.jpg"
    a = model.predict(path)
    b = model.predict(Image.open(path))
    c = model.predict(np.asarray(Image.open(path)))
    assert a.shape == (320, 240)
    np.testing.assert_allclose(a, b, atol=1e-7)
    np.testing.assert_allclose(a, c, atol=1e-7)


def test_onnx_export_agrees_with_pytorch(tiny_model, nus_mini, tmp_path):
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", "--model", str(tiny_model), "--out", str(onnx_path)]) == 0
    torch_model, onnx_model = load_model(tiny_model), load_model(onnx_path)
    x = (
        np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)
    )  # batch 3: dynamic
    with torch.no_grad():
        ref = torch_model.activate(torch_model(torch.from_numpy(x)))[:, 0].numpy()
    got = onnx_model(x)
    assert np.abs(got - ref).max() < 1e-4
    assert (np.abs(got - ref).max(axis=(1, 2)) / ref.max(axis=(1, 2))).max() < 1e-4  # relative too
    images = sorted((nus_mini / "images").glob("*.jpg"))[:3]
    for a, b in zip(torch_model.predict_batch(images), onnx_model.predict_batch(images)):
        assert np.abs(a - b).max() / a.max() < 1e-4


def test_onnx_predict_needs_no_torch(tiny_model, nus_mini, tmp_path):
    onnx_path = tmp_path / "m.onnx"
    main(["export", "--model", str(tiny_model), "--out", str(onnx_path)])
    script = (
        "import sys; sys.modules['torch'] = None\n"  # any import of torch now fails
        "from salmap.cli import main\n"
        f"sys.exit(main(['predict', {str(nus_mini / 'images')!r}, '--model', {str(onnx_path)!r}, "
        f"'--out', {str(tmp_path / 'o')!r}]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list((tmp_path / "o").glob("*_overlay.jpg"))) == 12


def test_compare_figure(tiny_model, nus_mini, tmp_path):
    out = tmp_path / "cmp.png"
    assert (
        main(
            [
                "compare",
                "--models",
                str(tiny_model),
                str(tiny_model),
                "--labels",
                "a",
                "b",
                "--data",
                str(nus_mini),
                "--split",
                "all",
                "--n",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    w, h = Image.open(out).size
    assert w > h > 200


def test_same_names_from_several_folders_get_distinct_outputs(tiny_model, nus_mini, tmp_path):
    for d in ("x", "y", "z"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "a.jpg").write_bytes((nus_mini / "images" / "048.jpg").read_bytes())
    out = tmp_path / "out"
    args = predict_args([tmp_path / d / "a.jpg" for d in "xyz"], tiny_model, out, "--save", "map")
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a-2_map.png", "a-3_map.png", "a_map.png"]


def test_a_broken_prediction_is_skipped_not_written(
    tiny_model, nus_mini, tmp_path, capsys, monkeypatch
):
    from salmap.inference import TorchRunner

    monkeypatch.setattr(
        TorchRunner, "__call__", lambda self, batch: np.full((len(batch), 64, 64), np.nan)
    )
    out = tmp_path / "out"
    assert main(predict_args([nus_mini / "images" / "048.jpg"], tiny_model, out)) == 1
    assert "NaN" in capsys.readouterr().err and not out.exists() or not list(out.iterdir())


def test_compare_refuses_to_overwrite(tiny_model, nus_mini, tmp_path, capsys):
    out = tmp_path / "cmp.png"
    out.write_bytes(b"keep")
    assert (
        main(
            [
                "compare",
                "--models",
                str(tiny_model),
                "--images",
                str(nus_mini / "images" / "048.jpg"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert out.read_bytes() == b"keep"
