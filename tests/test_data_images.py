import numpy as np
import pytest
from PIL import Image

from salmap.data import images
from salmap.data.images import load_image, load_map, to_rgb_array
from salmap.errors import DataError


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)


def test_modes_become_rgb(tmp_path, rgb):
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.webp", lossless=True)
    Image.fromarray(rgb).save(tmp_path / "rgb.bmp")
    Image.fromarray(rgb).save(tmp_path / "rgb.tiff")
    for name in ("gray.png", "cmyk.jpg", "palette.png", "rgb.webp", "rgb.bmp", "rgb.tiff"):
        a = load_image(tmp_path / name)
        assert a.shape == (30, 40, 3) and a.dtype == np.uint8, name
    np.testing.assert_array_equal(load_image(tmp_path / "rgb.bmp"), rgb)
    np.testing.assert_array_equal(load_image(tmp_path / "gray.png")[..., 1], rgb[..., 0])


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    a = (np.arange(30 * 40).reshape(30, 40) * 50).astype(np.uint16)  # up to 59950
    Image.fromarray(a).save(tmp_path / "deep.png")
    out = load_image(tmp_path / "deep.png")[..., 0]
    assert out.max() == 233 and out.min() == 0  # 59950 / 65535 * 255
    m = load_map(tmp_path / "deep.png")
    assert m.max() == pytest.approx(59950 / 65535, abs=1e-6)


def test_transparency_composited_on_background(tmp_path, rgb):
    rgba = np.dstack([rgb, np.zeros((30, 40), np.uint8)])
    rgba[:, :20, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    out = load_image(tmp_path / "alpha.png")
    np.testing.assert_array_equal(out[:, :20], rgb[:, :20])
    assert (out[:, 20:] == images.BACKGROUND).all()


def test_exif_orientation_applied(tmp_path, rgb):
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    out = load_image(tmp_path / "rotated.jpg")
    assert out.shape == (40, 30, 3)
    assert images.image_size(tmp_path / "rotated.jpg") == (40, 30)


def test_truncated_and_garbage_name_the_file(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name, what in (
        ("cut.jpg", "truncated"),
        ("text.jpg", "not an image"),
        ("empty.jpg", "the file is empty"),
        ("none.jpg", "not found"),
    ):
        for read in (load_image, images.frame_count, images.image_size):
            if read is not load_image and name == "cut.jpg":
                continue  # its header is whole
            with pytest.raises(DataError, match=what) as err:
                read(tmp_path / name)
            assert str(err.value).count(name) == 1, err.value


def test_decompression_bomb_refused_before_decoding(tmp_path, monkeypatch):
    Image.new("L", (200, 200)).save(tmp_path / "big.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    with pytest.raises(DataError, match="megapixels"):
        load_image(tmp_path / "big.png")


def test_npy_map_must_be_finite_2d(tmp_path):
    np.save(tmp_path / "nan.npy", np.full((4, 4), np.nan))
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    with pytest.raises(DataError, match="NaN"):
        load_map(tmp_path / "nan.npy")
    with pytest.raises(DataError, match="2-D"):
        load_map(tmp_path / "cube.npy")


def test_to_rgb_array_accepts_arrays_and_pil(rgb):
    assert to_rgb_array(rgb[..., 0]).shape == (30, 40, 3)
    assert to_rgb_array(rgb / 255.0).dtype == np.uint8
    np.testing.assert_array_equal(to_rgb_array(Image.fromarray(rgb)), rgb)
    with pytest.raises(DataError, match="shape"):
        to_rgb_array(np.zeros((2, 3, 5)))


def test_maps_of_any_mode_and_scale_come_out_in_unit_range(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(gray).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(np.full((3, 4), 0.5, np.float32), "F").save(tmp_path / "float.tif")
    np.save(tmp_path / "counts.npy", gray.astype(float))
    np.save(tmp_path / "density.npy", np.full((3, 4), 1 / 12))
    np.save(tmp_path / "negative.npy", -np.ones((3, 4)))
    np.testing.assert_allclose(load_map(tmp_path / "palette.png"), gray / 255, atol=1e-6)
    assert load_map(tmp_path / "float.tif").max() == pytest.approx(0.5)
    assert load_map(tmp_path / "counts.npy").max() == 1.0
    assert load_map(tmp_path / "density.npy").min() == 1.0
    with pytest.raises(DataError, match="negative"):
        load_map(tmp_path / "negative.npy")


def test_large_images_follow_our_limit_not_pillows(tmp_path, monkeypatch):
    Image.new("L", (120, 100)).save(tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # Pillow alone would warn (error: 2x)
    monkeypatch.setattr(images, "MAX_PIXELS", 20_000)
    assert load_image(tmp_path / "a.png").shape == (100, 120, 3)


@pytest.mark.parametrize("min_side", [1000, 448, 200, 100, 10])
def test_pixels_are_shrunk_as_a_jpeg_draft_decode_would_be(tmp_path, min_side):
    """shrunk_as_drafted gives decoded pixels the size load_image's draft decode of the JPEG
    gives (by 2, 4 or 8, never below min_side), each pixel the mean of its block."""
    from salmap.data.images import shrunk_as_drafted

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "big.jpg", quality=95)
    drafted = load_image(tmp_path / "big.jpg", min_side=min_side)
    shrunk = shrunk_as_drafted(rgb, min_side)
    assert shrunk.shape == drafted.shape and max(shrunk.shape[:2]) >= min(min_side, 1600)
    k = rgb.shape[0] // shrunk.shape[0]
    assert k in (1, 2, 4, 8)
    blocks = rgb[: k * 2, : k * 2].reshape(2, k, 2, k, 3).mean(axis=(1, 3))
    assert np.abs(shrunk[:2, :2].astype(float) - blocks).max() <= 0.5


def test_an_array_whose_pixels_are_not_kept_reaches_the_model_as_a_draft_would():
    """read_input on decoded pixels (salmap crop's one full decode) gives the model the input it
    gets from the pixels shrunk as a draft decode of the file would be: twice its input here."""
    from types import SimpleNamespace

    from salmap.data.images import shrunk_as_drafted
    from salmap.data.transforms import Normalize, fit, resize_image
    from salmap.inference import read_input

    config = SimpleNamespace(input_size=(64, 64), aspect="pad", mean=(0.5,) * 3, std=(0.25,) * 3)
    rgb = np.random.default_rng(1).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    _, x, g = read_input(rgb, config, max_output_side=100, keep_pixels=False)
    expected = Normalize.from_config(config)(resize_image(shrunk_as_drafted(rgb, 128), g))
    assert shrunk_as_drafted(rgb, 128).shape == (150, 200, 3) and np.array_equal(x, expected)
    _, kept, _ = read_input(rgb, config, max_output_side=100)  # pixels kept: as before
    assert g == fit((75, 100), (64, 64), "pad") and kept.shape == x.shape
