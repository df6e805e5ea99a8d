import json

import numpy as np
import pytest
from PIL import Image

import salmap
from salmap.cli import main
from salmap.cropping import best_window, window_size


def smooth(h: int, w: int, channels: int = 3) -> np.ndarray:
    """A smooth image whose pixels differ from place to place (so JPEG keeps them close and
    a crop from the wrong place shows): ramps across and down, and a wave."""
    y, x = np.mgrid[0:h, 0:w]
    layers = [255 * x / max(w - 1, 1), 255 * y / max(h - 1, 1), 127 + 100 * np.sin(x / 5 + y / 7)]
    layers += [np.full((h, w), 255.0)] * (channels - 3)
    return np.dstack(layers).round().astype(np.uint8)


@pytest.fixture
def images(tmp_path):
    """Awkward inputs in a nested folder: portrait, a thin strip, 1x1, EXIF-rotated, RGBA,
    16-bit, and a corrupt file."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(smooth(80, 50)).save(root / "portrait.png")
    Image.fromarray(smooth(12, 200)).save(root / "strip.png")
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(root / "dot.png")
    im = Image.fromarray(smooth(40, 60))
    exif = im.getexif()
    exif[0x0112] = 6  # shown rotated: 40 wide, 60 high
    im.save(root / "sub" / "rotated.jpg", exif=exif)
    Image.fromarray(smooth(30, 70, 4)).save(root / "sub" / "rgba.png")
    Image.fromarray(smooth(50, 50)[..., 0].astype(np.uint16) * 257).save(root / "deep.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return root


def crop_args(inputs, model, out, *options) -> list[str]:
    return ["crop", *map(str, inputs), "--model", str(model), "--out", str(out), *options]


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_crops_jsonl_and_files_agree(tiny_saved_model, images, tmp_path, capsys):
    out = tmp_path / "out"
    aspects = ["1:1", "16:9", "4:5", "9:16"]
    code = main(crop_args([images], tiny_saved_model, out, "--save", "crop,preview"))
    assert code == 1  # broken.jpg skipped
    err = capsys.readouterr().err
    assert "broken.jpg" in err
    lines = {line["image"]: line for line in read_jsonl(out / "crops.jsonl")}
    assert len(lines) == 7
    assert "error" in lines[str(images / "broken.jpg")]
    model = salmap.load_model(tiny_saved_model)
    for name, (width, height) in {
        "portrait.png": (50, 80),
        "strip.png": (200, 12),
        "dot.png": (1, 1),
        "sub/rotated.jpg": (40, 60),
        "sub/rgba.png": (70, 30),
        "deep.png": (50, 50),
    }.items():
        line = lines[str(images / name)]
        assert (line["width"], line["height"]) == (width, height)
        assert list(line["crops"]) == aspects
        density = model.predict(images / name)
        stem = name.rsplit(".", 1)[0]
        shown = np.asarray(salmap.data.images.load_image(images / name))
        for aspect, crop in line["crops"].items():
            x0, y0, x1, y1 = crop["box"]
            assert (x1 - x0, y1 - y0) == window_size(width, height, aspect)
            expected = best_window(density, aspect)
            assert crop["box"] == list(expected.box)
            assert crop["attention"] == pytest.approx(expected.attention, abs=1e-5)
            written = out / f"{stem}_crop_{x1 - x0}x{y1 - y0}.jpg"
            pixels = np.asarray(Image.open(written))
            assert pixels.shape == (y1 - y0, x1 - x0, 3)
            # JPEG: close to the image's own pixels in the box
            diff = np.abs(pixels.astype(int) - shown[y0:y1, x0:x1].astype(int)).mean()
            assert diff < 6
        assert (out / f"{stem}_crops.jpg").is_file()
    for aspect in ("1:1", "9:16"):
        box = lines[str(images / "portrait.png")]["crops"][aspect]["box"]
        assert box[2] - box[0] == 50 or box[3] - box[1] == 80


def test_no_output_replaced_without_overwrite(tiny_saved_model, images, tmp_path, capsys):
    out = tmp_path / "out"
    src = images / "portrait.png"
    assert main(crop_args([src], tiny_saved_model, out, "--aspect", "1:1")) == 0
    before = (out / "crops.jsonl").read_text()
    assert main(crop_args([src], tiny_saved_model, out, "--aspect", "1:1")) == 2
    assert "outputs exist already" in capsys.readouterr().err
    assert (out / "crops.jsonl").read_text() == before
    assert main(crop_args([src], tiny_saved_model, out, "--aspect", "1:1", "--overwrite")) == 0
    # nothing under the input folder was written
    assert sorted(p.name for p in images.rglob("*")) == sorted(
        [
            "portrait.png",
            "strip.png",
            "dot.png",
            "sub",
            "rotated.jpg",
            "rgba.png",
            "deep.png",
            "broken.jpg",
        ]
    )


def test_onnx_export_gives_the_same_crops(tiny_saved_model, images, tmp_path):
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", "--model", str(tiny_saved_model), "--out", str(onnx_path)]) == 0
    src = images / "portrait.png"
    assert main(crop_args([src], tiny_saved_model, tmp_path / "a", "--zoom", "0.5")) == 0
    assert main(crop_args([src], onnx_path, tmp_path / "b", "--zoom", "0.5")) == 0
    a, b = read_jsonl(tmp_path / "a" / "crops.jsonl"), read_jsonl(tmp_path / "b" / "crops.jsonl")
    assert [c["box"] for c in a[0]["crops"].values()] == [c["box"] for c in b[0]["crops"].values()]


@pytest.mark.parametrize(
    "options,message",
    [
        (["--aspect", "0:1"], "'0:1'"),
        (["--aspect", "16:0"], "'16:0'"),
        (["--aspect", "abc"], "'abc'"),
        (["--aspect", "1:1,"], None),  # a trailing comma is harmless
        (["--zoom", "0"], "zoom"),
        (["--zoom", "1.5"], "zoom"),
        (["--save", "crop,map"], "--save"),
        (["--alpha", "2"], "--alpha"),
        (["--model", "nowhere"], "nowhere"),
    ],
)
def test_bad_options_are_refused(tiny_saved_model, images, tmp_path, capsys, options, message):
    args = crop_args([images / "dot.png"], tiny_saved_model, tmp_path / "out", *options)
    if "--model" in options:
        args = ["crop", str(images / "dot.png"), "--out", str(tmp_path / "out"), *options]
    code = main(args)
    if message is None:
        assert code == 0
        return
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_inputs_are_reported_and_get_their_line(tiny_saved_model, tmp_path, capsys):
    code = main(crop_args([tmp_path / "nope.jpg"], tiny_saved_model, tmp_path / "out"))
    assert code == 1 and "nope.jpg: no such file" in capsys.readouterr().err
    lines = (tmp_path / "out" / "crops.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [
        {
            "image": str(tmp_path / "nope.jpg"),
            "error": f"{tmp_path / 'nope.jpg'}: no such file or folder",
        }
    ]


def test_output_that_is_an_input_is_refused(tiny_saved_model, tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(src)
    clash = tmp_path / "a_crop_10x10.jpg"
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(clash)
    code = main(crop_args([src, clash], tiny_saved_model, tmp_path, "--aspect", "1:1"))
    assert code == 2 and "is one of the inputs" in capsys.readouterr().err


def test_python_api_agrees_with_the_model(tiny_saved_model, images):
    path = images / "portrait.png"
    model = salmap.load_model(tiny_saved_model)
    density = model.predict(path)
    for given in (tiny_saved_model, str(tiny_saved_model), model):
        window = salmap.crop(path, aspect="4:5", zoom=0.5, model=given)
        assert window == best_window(density, "4:5", 0.5)
    shares = salmap.attention(path, "2x2", model=model)
    assert shares.regions[0].attention == pytest.approx(density[:40, :25].sum(), abs=1e-5)
    with pytest.raises(salmap.SalmapError, match="aspect ratio"):
        salmap.crop(path, aspect="4:0", model=model)


def test_framing_options_reach_every_crop(tiny_saved_model, nus_mini, tmp_path, capsys):
    photos = sorted((nus_mini / "images").glob("*.jpg"))[:2]
    out = tmp_path / "framed"
    keep = "40,30,120,90"
    args = crop_args(photos, tiny_saved_model, out, "--aspect", "1:1,16:9", "--keep", keep)
    assert main([*args, "--composition", "thirds", "--tolerance", "0.05", "--border", "0"]) == 0
    for line in read_jsonl(out / "crops.jsonl"):
        for crop in line["crops"].values():
            assert (crop["composition"], crop["tolerance"], crop["border"]) == ("thirds", 0.05, 0)
            x0, y0, x1, y1 = crop["box"]
            assert x0 <= 40 and y0 <= 30 and x1 >= 120 and y1 >= 90
    # the same search from Python gives the same boxes
    density = salmap.load_model(tiny_saved_model).predict(photos[0])
    window = best_window(
        density, "1:1", composition="thirds", tolerance=0.05, border=0, keep=[(40, 30, 120, 90)]
    )
    assert read_jsonl(out / "crops.jsonl")[0]["crops"]["1:1"]["box"] == list(window.box)


def test_a_keep_box_no_window_holds_skips_that_image(tiny_saved_model, nus_mini, tmp_path, capsys):
    photo = sorted((nus_mini / "images").glob("*.jpg"))[0]
    out = tmp_path / "out"
    args = crop_args([photo], tiny_saved_model, out, "--aspect", "9:16", "--zoom", "0.5")
    assert main([*args, "--keep", "0,0,300,20"]) == 1
    (line,) = read_jsonl(out / "crops.jsonl")
    assert "error" in line and "(0, 0, 300, 20)" in line["error"]
    assert "skipped" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options, message",
    [
        (["--tolerance", "0.1"], "composition"),
        (["--composition", "centre", "--tolerance", "1.5"], "tolerance"),
        (["--keep", "1,2,3"], "X0,Y0,X1,Y1"),
        (["--keep", "5,5,2,8"], "X0 < X1"),
    ],
)
def test_bad_framing_options_are_refused_before_any_work(
    tiny_saved_model, nus_mini, tmp_path, capsys, options, message
):
    out = tmp_path / "out"
    args = crop_args([nus_mini / "images"], tiny_saved_model, out, *options)
    assert main(args) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_size_format_and_quality_shape_the_files(tiny_saved_model, nus_mini, tmp_path):
    photo = sorted((nus_mini / "images").glob("*.jpg"))[0]
    out = tmp_path / "out"
    args = crop_args([photo], tiny_saved_model, out, "--size", "120x63", "--size", "40x40")
    assert main([*args, "--format", "webp", "--quality", "60"]) == 0
    (line,) = read_jsonl(out / "crops.jsonl")
    assert list(line["crops"]) == ["120:63", "40:40"]
    pixels = np.asarray(Image.open(photo).convert("RGB"))
    density = salmap.load_model(tiny_saved_model).predict(photo)
    for aspect, (w, h) in {"120:63": (120, 63), "40:40": (40, 40)}.items():
        crop = line["crops"][aspect]
        assert crop["size"] == [w, h]
        assert crop["box"] == list(best_window(density, aspect).box)  # the size's own ratio
        written = Image.open(out / f"{photo.stem}_crop_{w}x{h}.webp")
        assert written.format == "WEBP" and written.size == (w, h)
        x0, y0, x1, y1 = crop["box"]
        expected = Image.fromarray(pixels[y0:y1, x0:x1]).resize((w, h), Image.LANCZOS)
        diff = np.abs(np.asarray(written.convert("RGB"), float) - np.asarray(expected, float))
        assert diff.mean() < 8  # the window's pixels, resized (WEBP at 60 is lossy)


def test_webp_and_png_crops_are_not_read_back_as_photos(
    tiny_saved_model, nus_mini, tmp_path, capsys
):
    photo = sorted((nus_mini / "images").glob("*.jpg"))[0]
    out = tmp_path / "out"
    for fmt in ("webp", "png"):
        args = crop_args(
            [photo], tiny_saved_model, out / fmt, "--aspect", "1:1,4:5", "--format", fmt
        )
        assert main(args) == 0
    capsys.readouterr()
    assert main(crop_args([out], tiny_saved_model, tmp_path / "again")) == 1
    assert "ignored: 4 an earlier salmap run's output" in capsys.readouterr().out


def test_png_crops_are_lossless(tiny_saved_model, nus_mini, tmp_path):
    photo = sorted((nus_mini / "images").glob("*.jpg"))[0]
    out = tmp_path / "out"
    assert (
        main(crop_args([photo], tiny_saved_model, out, "--aspect", "1:1", "--format", "png")) == 0
    )
    (line,) = read_jsonl(out / "crops.jsonl")
    x0, y0, x1, y1 = line["crops"]["1:1"]["box"]
    (written,) = out.glob("*_crop_*.png")
    pixels = np.asarray(Image.open(photo).convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(written)), pixels[y0:y1, x0:x1])


@pytest.mark.parametrize(
    "options, message",
    [
        (["--size", "100"], "WxH"),
        (["--size", "0x10"], "at least 1"),
        (["--size", "10x10", "--aspect", "1:1"], "--size and --aspect"),
        (["--quality", "0"], "--quality 0"),
        (["--quality", "90", "--format", "png"], "lossless"),
    ],
)
def test_bad_file_options_are_refused_before_any_work(
    tiny_saved_model, nus_mini, tmp_path, capsys, options, message
):
    out = tmp_path / "out"
    args = crop_args([nus_mini / "images"], tiny_saved_model, out, *options)
    assert main(args) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_sized_crops_of_a_large_jpeg_decode_it_smaller(tiny_saved_model, tmp_path, monkeypatch):
    """With every crop resized to a set size and no preview, a JPEG is decoded only as large
    as the crops need (a draft, as libvips' shrink-on-load): crops.jsonl keeps the image's own
    size and boxes, and the crops are the windows of the full image, resized."""
    import salmap.data.images as images

    photo = tmp_path / "in" / "large.jpg"
    photo.parent.mkdir()
    Image.fromarray(smooth(900, 1200)).save(photo, quality=95)
    decoded = []
    load = images.load_image

    def spy(path, *args, **kwargs):
        pixels = load(path, *args, **kwargs)
        decoded.append(pixels.shape[:2])
        return pixels

    monkeypatch.setattr(images, "load_image", spy)
    sizes = ["--size", "60x60", "--size", "80x45"]
    lines = {}
    for kind, extra in (("draft", []), ("full", ["--save", "crop,preview"])):
        out = tmp_path / kind
        assert main(crop_args([photo], tiny_saved_model, out, *sizes, *extra)) == 0
        (lines[kind],) = read_jsonl(out / "crops.jsonl")
        assert (lines[kind]["width"], lines[kind]["height"]) == (1200, 900)
    # the model reads 2 x its 64 px input: a quarter of the image holds every window's size
    assert decoded == [(225, 300), (900, 1200)]
    for aspect, (w, h) in {"60:60": (60, 60), "80:45": (80, 45)}.items():
        crop, full = lines["draft"]["crops"][aspect], lines["full"]["crops"][aspect]
        assert crop["size"] == [w, h] and crop["box"] == full["box"]
        x0, y0, x1, y1 = crop["box"]
        assert (x1 - x0, y1 - y0) == window_size(1200, 900, aspect)
        name = f"large_crop_{w}x{h}.jpg"
        small, whole = (Image.open(tmp_path / kind / name) for kind in ("draft", "full"))
        assert small.size == whole.size == (w, h)
        diff = np.abs(np.asarray(small, float) - np.asarray(whole, float))
        assert diff.mean() < 2  # the same window, resized from the smaller decode
