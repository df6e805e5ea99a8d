from types import SimpleNamespace

import numpy as np
import pytest

from salmap.data import open_dataset
from salmap.data.fixations import pixel_indices
from salmap.data.transforms import Normalize, Resize, fit, hflip, resize_map


def _spot_sample(h=60, w=90, x=70.5, y=15.5):
    image = np.zeros((h, w, 3), np.uint8)
    image[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = 255
    smap = np.zeros((h, w), np.float32)
    smap[int(y), int(x)] = 1.0
    return {
        "image": image,
        "saliency_map": smap,
        "map_kind": "distributed",
        "fixations": np.array([[x, y]]),
        "subjects": np.array([3]),
    }


@pytest.mark.parametrize("mode", ["resize", "pad"])
def test_resize_moves_fixations_with_the_image(mode):
    out = Resize((32, 32), mode)(_spot_sample())
    assert out["image"].shape == (32, 32, 3) and out["saliency_map"].shape == (32, 32)
    ((x, y),) = out["fixations"]
    bright = np.argwhere(out["image"][..., 0] > 200) + 0.5
    assert np.abs(bright.mean(0) - [y, x]).max() < 1.0
    peak = np.unravel_index(out["saliency_map"].argmax(), (32, 32))
    assert np.abs(np.array(peak) + 0.5 - [y, x]).max() <= 1.0
    assert out["subjects"].tolist() == [3]


def test_pad_keeps_aspect_and_inverts():
    g = fit((60, 90), (32, 32), "pad")
    assert g.content == (21, 32) and g.offset == (0, 5)
    rng = np.random.default_rng(0)
    smooth = np.outer(np.hanning(60), np.hanning(90)).astype(np.float32) + rng.uniform(
        0, 0.01, (60, 90)
    )
    back = g.to_original(resize_map(smooth, g))
    assert back.shape == (60, 90)
    assert np.corrcoef(back.ravel(), smooth.ravel())[0, 1] > 0.99


def test_density_is_recomputed_at_the_new_size(nus_mini):
    ds = open_dataset(nus_mini)
    full = ds[0]
    lazy = ds.sample(0, density=False)
    assert lazy["saliency_map"] is None
    a, b = Resize((64, 48))(full), Resize((64, 48))(lazy)
    assert b["saliency_map"].sum() == pytest.approx(1.0, abs=1e-5)
    assert np.corrcoef(a["saliency_map"].ravel(), b["saliency_map"].ravel())[0, 1] > 0.98


def test_hflip_is_applied_identically():
    s = _spot_sample()
    f = hflip(s)
    ((x, y),) = f["fixations"]
    assert x == pytest.approx(90 - 70.5)
    rows, cols = pixel_indices(f["fixations"], (60, 90))
    assert f["saliency_map"][rows[0], cols[0]] == 1.0 and f["image"][rows[0], cols[0], 0] == 255
    np.testing.assert_array_equal(hflip(f)["image"], s["image"])
    edge = hflip(dict(s, fixations=np.array([[0.0, 1.0], [89.0, 1.0]])))["fixations"]
    assert pixel_indices(edge, (60, 90))[1].tolist() == [89, 0]  # integer x stays on its pixel


def test_normalize_uses_the_models_statistics():
    config = SimpleNamespace(mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))
    x = Normalize.from_config(config)(np.full((2, 3, 3), 255, np.uint8))
    assert x.shape == (3, 2, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0, 0], [1.0, 3.0, 1.0])


def test_normalize_looks_up_uint8_pixels_as_it_computes_floats():
    """A uint8 image goes through a table of each channel's 256 values: the same float32
    values, bit for bit, as the arithmetic on the same pixels given as floats."""
    config = SimpleNamespace(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    normalize = Normalize.from_config(config)
    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    looked_up = normalize(image)
    assert looked_up.shape == (3, 7, 5) and looked_up.dtype == np.float32
    np.testing.assert_array_equal(looked_up, normalize(image.astype(np.float32)))
    assert looked_up[0, 3, 1] == np.float32(
        (np.float32(image[3, 1, 0]) / 255.0 - np.float32(0.485)) / np.float32(0.229)
    )
