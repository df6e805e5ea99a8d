import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from salmap.batch.manifest import MANIFEST
from salmap.cli import main
from salmap.inference import make_runner
from salmap.models import load_model


@pytest.fixture(scope="module")
def tiny_model(tiny_saved_model):
    return tiny_saved_model


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
        h, w = np.asarray(Image.open(out / f"{stem}_overlay.jpg")).shape[:2]
        assert w == shape[1] and h > shape[0]  # the legend below
        h, w = np.asarray(Image.open(out / f"{stem}_side.jpg")).shape[:2]
        assert w == 2 * shape[1] and h > shape[0]
    assert not list(out.rglob("*.tmp"))


def test_predict_refuses_to_overwrite(tiny_model, nus_mini, tmp_path, capsys):
    out = tmp_path / "out"
    args = predict_args([nus_mini / "images" / "048.jpg"], tiny_model, out)
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["048_map.png", "048_overlay.jpg", MANIFEST]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite", "--bits", "16"]) == 0
    assert np.asarray(Image.open(out / "048_map.png")).max() == 65535


def test_a_model_that_is_not_there_is_named_before_any_output_is_touched(
    tiny_model, nus_mini, tmp_path, capsys
):
    out = tmp_path / "out"
    image = nus_mini / "images" / "048.jpg"
    assert main(predict_args([image], tiny_model, out)) == 0
    manifest = (out / MANIFEST).read_bytes()
    capsys.readouterr()
    run = tmp_path / "run"
    (run / "models" / "final").mkdir(parents=True)
    for model, words in [
        ("nosuch", "no model there"),
        ("accurat", "did you mean the shipped model 'accurate'"),
        (run, "models/final"),
        (tmp_path / "x.onnx", "no such ONNX model"),
    ]:
        for extra in ([], ["--overwrite"]):
            assert main(predict_args([image], model, out, *extra)) == 2
            err = capsys.readouterr().err
            assert words in err and len(err.strip().splitlines()) == 1, err
    assert (out / MANIFEST).read_bytes() == manifest
    assert main(["crop", str(image), "--model", "nosuch", "--out", str(tmp_path / "c")]) == 2
    assert "nosuch: no model there" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_a_folder_filled_by_several_runs_lists_every_image(tiny_model, nus_mini, tmp_path):
    out = tmp_path / "out"
    first, second = sorted((nus_mini / "images").glob("*.jpg"))[:2]

    def listed():
        lines = (out / MANIFEST).read_text().splitlines()
        return [(e["input"], e["status"]) for e in map(json.loads, lines)]

    assert main(predict_args([first], tiny_model, out, "--save", "map")) == 0
    assert main(predict_args([second], tiny_model, out, "--save", "map")) == 0
    assert listed() == [(str(first), "done"), (str(second), "done")]
    # the first again: its line is this run's, once
    assert main(predict_args([first], tiny_model, out, "--save", "map", "--skip-existing")) == 0
    assert listed() == [(str(second), "done"), (str(first), "existing")]


def test_a_later_run_replaces_the_lines_of_what_it_redoes(tiny_model, nus_mini, tmp_path):
    """Same file name in another folder, written over with --overwrite: one line, the new
    image's; an input that named nothing before and has images now loses its error line."""
    out = tmp_path / "out"
    image = nus_mini / "images" / "048.jpg"
    batch1, batch2 = tmp_path / "batch1", tmp_path / "batch2"
    for batch in (batch1, batch2):
        batch.mkdir()
    (batch1 / "x.jpg").write_bytes(image.read_bytes())
    assert main(predict_args([batch1, batch2], tiny_model, out, "--save", "map")) == 1
    (batch2 / "x.jpg").write_bytes(image.read_bytes())
    assert main(predict_args([batch2], tiny_model, out, "--save", "map", "--overwrite")) == 0
    lines = [json.loads(x) for x in (out / MANIFEST).read_text().splitlines()]
    assert [(e["input"], e["status"]) for e in lines] == [(str(batch2 / "x.jpg"), "done")]


def test_a_file_name_that_is_not_unicode_gets_a_valid_manifest(tiny_model, nus_mini, tmp_path):
    import os

    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes: not UTF-8
    try:
        (folder / name).write_bytes((nus_mini / "images" / "048.jpg").read_bytes())
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes only Unicode names")
    out = tmp_path / "out"
    assert main(predict_args([folder], tiny_model, out, "--save", "map")) == 0
    entry = json.loads((out / MANIFEST).read_bytes().decode("utf-8"))
    assert entry["status"] == "done" and entry["input"] == str(folder / name)


def test_predict_globs_and_missing_inputs(tiny_model, nus_mini, tmp_path, capsys):
    out = tmp_path / "out"
    inputs = [nus_mini / "images" / "0*.jpg", tmp_path / "nope.jpg"]
    code = main(predict_args(inputs, tiny_model, out, "--save", "map"))
    assert code == 1 and (out / "048_map.png").is_file() and (out / "078_map.png").is_file()
    assert "nope.jpg: no such file" in capsys.readouterr().err
    last = json.loads((out / MANIFEST).read_text().splitlines()[-1])
    assert last == {
        "input": str(tmp_path / "nope.jpg"),
        "status": "error",
        "error": f"{tmp_path / 'nope.jpg'}: no such file or folder",
    }


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


def test_exported_pads_are_constants(tiny_model, tmp_path):
    """The head's blur pads by amounts traced from the input's shape; the export stores them
    (salmap.export.static_pads) rather than the arithmetic that computed them."""
    import onnx

    from salmap.export import static_pads

    path = tmp_path / "m.onnx"
    assert main(["export", "--model", str(tiny_model), "--out", str(path)]) == 0
    proto = onnx.load(str(path))
    constants = {t.name for t in proto.graph.initializer}
    pads = [n for n in proto.graph.node if n.op_type == "Pad"]
    assert pads and all(n.input[1] in constants for n in pads)
    assert static_pads(proto) == 0  # nothing left to do


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
    names = ["a-2_map.png", "a-3_map.png", "a_map.png", MANIFEST]
    assert sorted(p.name for p in out.iterdir()) == names
    manifest = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    assert [(e["input"], e["outputs"]["map"]) for e in manifest] == [
        (str(tmp_path / d / "a.jpg"), name) for d, name in zip("xyz", names[2::-1][:1] + names[:2])
    ]


def test_a_broken_prediction_is_skipped_not_written(
    tiny_model, nus_mini, tmp_path, capsys, monkeypatch
):
    from salmap.inference import TorchRunner

    monkeypatch.setattr(
        TorchRunner, "__call__", lambda self, batch: np.full((len(batch), 64, 64), np.nan)
    )
    out = tmp_path / "out"
    assert main(predict_args([nus_mini / "images" / "048.jpg"], tiny_model, out)) == 1
    assert "NaN" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == [MANIFEST]
    (entry,) = map(json.loads, (out / MANIFEST).read_text().splitlines())
    assert entry["status"] == "error" and "NaN" in entry["error"]


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


@pytest.mark.parametrize(
    "options, message",
    [
        (["--colormap", "Inferno"], "unknown colormap 'Inferno'"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--batch-size", "-1"], "--batch-size must be at least 1"),
        (["--device", "gpu"], "--device takes cpu, cuda or cuda:N"),
        (["--device", "cuda:7"], "no such CUDA device"),
        (["--background", "chartreusy"], "--background 'chartreusy'"),
        (["--max-output-side", "0"], "--max-output-side must be at least 1"),
        (["--save", "map,heat"], "--save takes"),
        (["--runner", "onnx"], "--runner onnx needs an .onnx model"),
    ],
)
def test_every_option_is_checked_before_any_work(
    tiny_model, nus_mini, tmp_path, capsys, monkeypatch, options, message
):
    import salmap

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(salmap, "load_model", no_model)
    out = tmp_path / "out"
    assert main(predict_args([nus_mini / "images"], tiny_model, out, *options)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() or not list(out.iterdir())


def test_an_unusable_out_is_one_line(tiny_model, nus_mini, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out, message in [(tmp_path / "file", "is a file"), (tmp_path / "file" / "sub", "cannot")]:
        assert main(predict_args([nus_mini / "images" / "048.jpg"], tiny_model, out)) == 2
        assert message in capsys.readouterr().err


def test_skip_existing_does_only_the_missing_images(tiny_model, nus_mini, tmp_path, capsys):
    out = tmp_path / "out"
    args = predict_args([nus_mini / "images"], tiny_model, out, "--save", "map,overlay")
    assert main(args) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / "078_overlay.jpg").unlink()  # as if interrupted while writing 078
    (out / "258_map.png").unlink()
    assert main(args) == 2 and "--skip-existing" in capsys.readouterr().err
    assert main(args + ["--skip-existing"]) == 0
    assert "2 image(s) done, 0 skipped, 10 done by an earlier run" in capsys.readouterr().out
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    redone = sorted(n for n in after if n != MANIFEST and after[n] != before.get(n))
    assert redone == ["078_map.png", "078_overlay.jpg", "258_map.png", "258_overlay.jpg"]
    manifest = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    assert len(manifest) == 12
    assert sorted(Path(e["input"]).stem for e in manifest if e["status"] == "done") == [
        "078",
        "258",
    ]
    assert {e["status"] for e in manifest} == {"done", "existing"}


def test_an_output_folder_inside_the_input_folder_is_not_read(
    tiny_model, nus_mini, tmp_path, capsys
):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("048.jpg", "078.jpg"):
        (photos / name).write_bytes((nus_mini / "images" / name).read_bytes())
    args = predict_args([photos], tiny_model, photos / "maps", "--save", "map,overlay")
    assert main(args) == 0
    assert main(args + ["--overwrite"]) == 0
    assert sorted(p.name for p in (photos / "maps").iterdir()) == [
        "048_map.png",
        "048_overlay.jpg",
        "078_map.png",
        "078_overlay.jpg",
        MANIFEST,
    ]
    # a second run into another folder inside does not read the first run's maps as photos
    capsys.readouterr()
    assert main(predict_args([photos], tiny_model, photos / "maps2", "--save", "map")) == 0
    assert "2 image(s) done" in capsys.readouterr().out
    assert sorted(p.name for p in (photos / "maps2").iterdir()) == [
        "048_map.png",
        "078_map.png",
        MANIFEST,
    ]
    # a manifest.jsonl that is not salmap's hides nothing, and is not replaced unasked
    data = photos / "data"
    data.mkdir()
    (data / MANIFEST).write_text('{"id": 1}\n')
    (data / "d.jpg").write_bytes((nus_mini / "images" / "048.jpg").read_bytes())
    capsys.readouterr()
    assert main(predict_args([photos], tiny_model, tmp_path / "e1", "--save", "map")) == 0
    out = capsys.readouterr().out
    assert "3 image(s) done" in out and "an earlier salmap run's output" in out
    assert main(predict_args([data / "d.jpg"], tiny_model, data)) == 2
    assert "not a salmap manifest" in capsys.readouterr().err
    assert (data / MANIFEST).read_text() == '{"id": 1}\n'
    # salmap's outputs among photos: the photos are still read, the outputs are not
    assert main(predict_args([data / "d.jpg"], tiny_model, data, "--overwrite")) == 0
    assert (data / "d_map.png").is_file()
    capsys.readouterr()
    assert main(predict_args([photos], tiny_model, tmp_path / "e2", "--save", "map")) == 0
    assert "3 image(s) done" in capsys.readouterr().out
    assert (tmp_path / "e2" / "data" / "d_map.png").is_file()
    # an output folder above the inputs hides nothing
    above = tmp_path / "above"
    shutil.copytree(photos, above / "photos", ignore=shutil.ignore_patterns("maps*", "data"))
    assert main(predict_args([above / "photos"], tiny_model, above, "--save", "map")) == 0
    assert "2 image(s) done" in capsys.readouterr().out
    # the input folder itself is refused, for predict and crop, and left as it was
    before = sorted(p.name for p in photos.iterdir())
    for command in (["predict"], ["crop"]):
        args = [*command, str(photos), "--model", str(tiny_model), "--out", str(photos / ".")]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "is an input folder: choose another --out" in err, err
    assert sorted(p.name for p in photos.iterdir()) == before


def test_folders_take_every_pillow_format_follow_links_and_count_ignored(
    tiny_model, nus_mini, tmp_path, capsys
):
    root = tmp_path / "in"
    (root / "deep").mkdir(parents=True)
    jpeg = (nus_mini / "images" / "048.jpg").read_bytes()
    for name in ("a.jfif", "b.jpe", "deep/c.JPG"):
        (root / name).write_bytes(jpeg)
    Image.open(nus_mini / "images" / "048.jpg").save(root / "d.tif")
    (root / "notes.txt").write_text("not an image")
    (root / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    (root / "deep" / "loop").symlink_to(root)  # a folder link back up the tree
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "e.jpg").write_bytes(jpeg)
    (root / "linked").symlink_to(elsewhere)
    out = tmp_path / "out"
    assert main(predict_args([root], tiny_model, out, "--save", "map")) == 0
    text = capsys.readouterr().out
    got = sorted(str(p.relative_to(out)) for p in out.rglob("*_map.png"))
    assert got == ["a_map.png", "b_map.png", "d_map.png", "deep/c_map.png", "linked/e_map.png"]
    assert "5 image(s) done" in text
    assert "1 broken link" in text and "1 folder loop" in text
    assert "1 not an image (by extension)" in text


def test_transparency_composites_on_the_background_for_files_pil_and_arrays(
    tiny_model, nus_mini, tmp_path
):
    rgb = np.asarray(Image.open(nus_mini / "images" / "048.jpg"))
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[:, : rgb.shape[1] // 2] = 255  # the right half transparent
    rgba = np.dstack([rgb, alpha])
    Image.fromarray(rgba).save(tmp_path / "t.png")
    model = load_model(tiny_model)
    from_file = model.predict(tmp_path / "t.png")
    np.testing.assert_allclose(model.predict(rgba), from_file, atol=1e-7)
    np.testing.assert_allclose(model.predict(Image.fromarray(rgba)), from_file, atol=1e-7)
    np.testing.assert_allclose(model.predict(rgba / 255.0), from_file, atol=1e-7)
    on_white = rgb.copy()
    on_white[:, rgb.shape[1] // 2 :] = 255
    np.testing.assert_allclose(model.predict(on_white), from_file, atol=1e-7)
    # the CLI's --background: black under the transparent half gives another map
    out = tmp_path / "out"
    args = predict_args([tmp_path / "t.png"], tiny_model, out, "--save", "density")
    assert main(args) == 0
    np.testing.assert_allclose(np.load(out / "t_density.npy"), from_file, atol=1e-7)
    assert main(args + ["--overwrite", "--background", "black"]) == 0
    on_black = rgb.copy()
    on_black[:, rgb.shape[1] // 2 :] = 0
    np.testing.assert_allclose(np.load(out / "t_density.npy"), model.predict(on_black), atol=1e-7)


def test_multi_frame_files_give_the_first_frame_with_a_note_or_all_frames(tiny_model, tmp_path):
    rng = np.random.default_rng(1)
    frames = [Image.fromarray(rng.integers(0, 255, (40, 50, 3), np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    out = tmp_path / "out"
    assert main(predict_args([tmp_path / "anim.gif"], tiny_model, out, "--save", "map")) == 0
    (entry,) = map(json.loads, (out / MANIFEST).read_text().splitlines())
    assert entry["note"].startswith("first of 3 frames")
    out = tmp_path / "all"
    args = predict_args([tmp_path / "anim.gif"], tiny_model, out, "--save", "density")
    assert main(args + ["--all-frames"]) == 0
    maps = [np.load(out / f"anim-frame{k}_density.npy") for k in (1, 2, 3)]
    assert not np.allclose(maps[0], maps[1])
    manifest = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    assert [e["frame"] for e in manifest] == [1, 2, 3]


def test_max_output_side_and_float16_densities(tiny_model, nus_mini, tmp_path):
    image = nus_mini / "images" / "258.jpg"  # 240 x 320
    out = tmp_path / "out"
    save = ["--save", "map,density,overlay"]
    assert main(predict_args([image], tiny_model, out, *save)) == 0
    full = np.load(out / "258_density.npy")
    small = tmp_path / "small"
    options = ["--max-output-side", "100", "--density-dtype", "float16"]
    assert main(predict_args([image], tiny_model, small, *save, *options)) == 0
    half = np.load(small / "258_density.npy")
    assert half.dtype == np.float16 and half.shape == (100, 75)
    assert np.asarray(Image.open(small / "258_map.png")).shape == (100, 75)
    assert Image.open(small / "258_overlay.jpg").size[0] == 75
    density = half.astype(np.float32) / half.astype(np.float32).sum()
    shrunk = np.asarray(Image.fromarray(full).resize((75, 100), Image.BILINEAR))
    assert np.abs(density - shrunk / shrunk.sum()).max() < 0.02 * density.max()


def test_large_jpegs_are_decoded_reduced_with_the_same_map(tiny_model, nus_mini, tmp_path):
    from salmap.inference import predict_stream, read_input

    big = Image.open(nus_mini / "images" / "048.jpg").resize((2400, 2400), Image.BICUBIC)
    big.save(tmp_path / "big.jpg", quality=95)
    model = load_model(tiny_model)
    runner = make_runner(model)
    reduced = read_input(tmp_path / "big.jpg", model.config, keep_pixels=False)
    assert reduced[0] is None and reduced[2].shape == (2400, 2400)
    ((_, a),) = predict_stream(runner, [tmp_path / "big.jpg"])  # decoded in full
    ((_, b),) = predict_stream(
        runner,
        [tmp_path / "big.jpg"],
        read=lambda p: read_input(p, model.config, keep_pixels=False),
    )
    assert a.shape == b.shape == (2400, 2400)
    assert np.abs(a - b).max() < a.max() / 255


def test_the_next_batch_is_decoded_while_the_model_runs(tiny_model, nus_mini):
    """With a pool, the reads of batch 2 are handed to it before the model gets batch 1; the
    maps come back in order, and the same as without a pool."""
    from concurrent.futures import ThreadPoolExecutor

    from salmap.inference import predict_stream

    class Counting(ThreadPoolExecutor):
        submitted = 0

        def submit(self, *args, **kwargs):
            self.submitted += 1
            return super().submit(*args, **kwargs)

    runner = make_runner(load_model(tiny_model))
    paths = sorted((nus_mini / "images").glob("*.jpg"))[:5]
    seen = []

    def counting(x):
        seen.append(pool.submitted)
        return runner(x)

    counting.config = runner.config
    with Counting(2) as pool:
        maps = [m for _, m in predict_stream(counting, paths, 2, pool)]
    assert seen == [4, 5, 5]  # batch 2 (and then 3) handed over before batch 1 was predicted
    alone = [m for _, m in predict_stream(runner, paths, 2)]
    assert len(maps) == 5 and all(np.array_equal(a, b) for a, b in zip(maps, alone))


TORCH_BLOCKER = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] in ('torch', 'torchvision', 'timm', 'safetensors'):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
sys.meta_path.insert(0, NoTorch())
from salmap.cli import main
code = main(sys.argv[1:])
assert 'torch' not in sys.modules
sys.exit(code)
"""


def test_default_predict_runs_on_onnxruntime_without_torch(nus_mini, tmp_path):
    out = tmp_path / "o"
    result = subprocess.run(
        [sys.executable, "-c", TORCH_BLOCKER, "predict", str(nus_mini / "images" / "048.jpg")]
        + ["--out", str(out), "--save", "map,overlay,fog"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "048_fog.jpg",
        "048_map.png",
        "048_overlay.jpg",
        MANIFEST,
    ]


def test_a_command_needing_torch_names_the_extra(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", TORCH_BLOCKER, "export", "--out", str(tmp_path / "m.onnx")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "pip install 'salmap[train]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_shipped_onnx_model_agrees_with_pytorch(nus_mini):
    import salmap
    from salmap.export import OnnxModel

    images = sorted((nus_mini / "images").glob("*.jpg"))[:4]
    onnx_model = salmap.load_model()
    assert isinstance(onnx_model, OnnxModel)
    torch_maps = salmap.load_model(runner="torch").predict_batch(images)
    for a, b in zip(torch_maps, onnx_model.predict_batch(images)):
        assert np.abs(a - b).max() < a.max() / 255
