import numpy as np
import pytest
from PIL import Image

from salmap.cropping import best_window
from salmap.errors import SalmapError
from salmap.sizing import crop_to_size, parse_size


def picture_and_map():
    """A 90 x 120 gradient picture and a map whose attention is a square at x 70-90, y 20-40."""
    ys, xs = np.mgrid[:90, :120]
    pixels = np.stack([xs * 2, ys * 2, (xs + ys) % 256], axis=-1).astype(np.uint8)
    density = np.full((90, 120), 1e-3)
    density[20:40, 70:90] = 1.0
    return pixels, density


@pytest.mark.parametrize("size", [(64, 64), "40x30", (30, 60), "1x1", (200, 20)])
def test_the_crop_is_the_best_window_resized_to_exactly_the_size(size):
    pixels, density = picture_and_map()
    out, window = crop_to_size(pixels, size, density=density)
    w, h = parse_size(size)
    assert out.size == (w, h) and out.mode == "RGB"
    assert window == best_window(density, (w, h))
    x0, y0, x1, y1 = window.box
    expected = Image.fromarray(pixels[y0:y1, x0:x1]).resize((w, h), Image.LANCZOS)
    assert np.array_equal(np.asarray(out), np.asarray(expected))


def test_options_reach_the_window_search():
    pixels, density = picture_and_map()
    _, window = crop_to_size(pixels, "30x30", density=density, zoom=0.5, keep=[(0, 0, 5, 5)])
    assert window.box == (0, 0, 45, 45) and window.zoom == 0.5
    _, window = crop_to_size(pixels, "30x30", density=density, zoom=0.5, composition="thirds")
    assert window == best_window(density, "1:1", 0.5, composition="thirds")


def test_a_window_smaller_than_the_size_is_enlarged_or_refused():
    pixels, density = picture_and_map()
    out, window = crop_to_size(pixels, "400x100", density=density)
    assert out.size == (400, 100) and window.size == (120, 30)
    with pytest.raises(SalmapError, match="window of this 120x90 image at zoom 1 is 120x30, sma"):
        crop_to_size(pixels, "400x100", density=density, enlarge=False)
    out, _ = crop_to_size(pixels, "60x45", density=density, enlarge=False)  # 120x90: shrunk
    assert out.size == (60, 45)


def test_the_map_comes_from_the_model_when_not_given():
    pixels, density = picture_and_map()

    class Model:
        def predict(self, image):
            assert image is pixels
            return density

    _, window = crop_to_size(pixels, (20, 20), model=Model())
    assert window == best_window(density, "1:1")


def test_a_map_of_another_size_is_refused():
    pixels, density = picture_and_map()
    with pytest.raises(SalmapError, match=r"density is \(45, 60\) but the image is 90 x 120"):
        crop_to_size(pixels, "20x20", density=density[::2, ::2])


def test_sizes_are_parsed():
    assert parse_size("1200x630") == (1200, 630)
    assert parse_size(" 16 X 9 ") == (16, 9)
    assert parse_size([3, np.int64(4)]) == (3, 4)
    for bad in ("1200", "0x10", "10x-1", "1.5x2", "axb", (1.5, 2), (1, 2, 3), None, (True, 1)):
        with pytest.raises(SalmapError, match="not WxH in whole pixels"):
            parse_size(bad)
