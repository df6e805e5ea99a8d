"""The API's pictures and report: ``/overlay``, ``/fog``, ``/crop?format=png``, ``/report``
(of one image or of variants) and the map at display size (``max_side``), each the same as the
library makes it, and their errors (4xx JSON, never 500)."""

import io
import json
import re

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="salmap[serve] is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from salmap.cropping import best_window  # noqa: E402
from salmap.models import load_model  # noqa: E402
from salmap.serve.app import ServeSettings, create_app  # noqa: E402
from salmap.viz import fog, overlay, with_legend  # noqa: E402

API = "/api/v1"


@pytest.fixture(scope="module")
def model(tiny_saved_model):
    return load_model(tiny_saved_model)


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(model, settings=ServeSettings())) as c:
        yield c


def png(rgb: np.ndarray, mode=None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb, mode).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)


def post(client, path, data: bytes, name="design.png", fields=None, **params):
    return client.post(
        f"{API}{path}", files={"image": (name, data, "image/png")}, data=fields or {}, params=params
    )


def decoded(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    for w in words:
        assert w.lower() in message.lower(), message


def test_overlay_and_fog_are_the_librarys(client, model, image):
    density = model.predict(image)
    got = decoded(post(client, "/overlay", png(image), alpha=0.5, colormap="viridis"))
    expected = with_legend(overlay(image, density, 0.5, "viridis"), "mass", "viridis")
    assert got.shape == expected.shape and got.shape[0] > 60  # the legend below the image
    assert np.abs(got.astype(int) - expected).max() <= 1
    bare = decoded(post(client, "/overlay", png(image), legend="false", scale="peak"))
    assert np.abs(bare.astype(int) - overlay(image, density, scale="peak")).max() <= 1
    assert (
        np.abs(decoded(post(client, "/fog", png(image))).astype(int) - fog(image, density)).max()
        <= 1
    )


def test_transparency_is_shown_over_white_as_the_model_saw_it(client):
    rgba = np.zeros((40, 50, 4), np.uint8)  # transparent black everywhere...
    rgba[10:30, 10:30] = (200, 30, 30, 255)  # ...but an opaque red square
    fogged = decoded(post(client, "/fog", png(rgba, "RGBA")))
    bare = decoded(post(client, "/overlay", png(rgba, "RGBA"), alpha=0))
    assert (bare[0, 0] == 255).all() and (bare[20, 20] == (200, 30, 30)).all()
    assert fogged[0, 0].min() >= 0.2 * 255 - 1  # white dimmed by the fog, never black


def test_crop_as_an_image(client, model, image):
    got = decoded(post(client, "/crop", png(image), aspect="1:1", format="png"))
    x0, y0, x1, y1 = best_window(model.predict(image), "1:1").box
    assert (got == image[y0:y1, x0:x1]).all()
    boxes = post(client, "/crop", png(image), aspect="1:1").json()  # JSON stays the default
    assert boxes["crops"]["1:1"]["box"] == [x0, y0, x1, y1]


def test_report_of_an_upload(client, image):
    regions = json.dumps({"logo": [0, 0, 30, 20], "button": [40, 30, 80, 55]})
    r = post(client, "/report", png(image), name="my design.png", fields={"regions": regions})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert 'filename="my_design_report.html"' in r.headers["content-disposition"]
    page = r.text
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    for words in ("my design.png", "logo", "button", "Fog: what a quick look takes in", "tiny"):
        assert words in page
    grid = post(client, "/report", png(image), regions="2x2")  # a grid by the query
    assert grid.status_code == 200 and "The design cut in 2×2 equal parts" in grid.text
    plain = post(client, "/report", png(image))  # no regions: the 3x3 grid
    assert plain.status_code == 200 and "3×3 equal parts" in plain.text


@pytest.mark.parametrize(
    "path, params, fields, status, words",
    [
        ("/overlay", {"alpha": 2}, {}, 422, ["alpha"]),
        ("/overlay", {"colormap": "nosuch"}, {}, 422, ["unknown colormap", "nosuch"]),
        ("/overlay", {"scale": "loud"}, {}, 422, ["scale"]),
        ("/crop", {"format": "png"}, {}, 422, ["one aspect"]),
        ("/crop", {"format": "gif", "aspect": "1:1"}, {}, 422, ["format"]),
        ("/report", {}, {"regions": '{"logo": [0, 0, 500, 20]}'}, 422, ["logo", "outside"]),
        ("/report", {}, {"regions": "[1, 2]"}, 422, ["JSON object"]),
        ("/report", {}, {"regions": "not regions"}, 422, ["neither"]),
    ],
)
def test_bad_parameters_are_422_json(client, image, path, params, fields, status, words):
    assert_error(post(client, path, png(image), fields=fields, **params), status, *words)


@pytest.mark.parametrize("path", ["/overlay", "/fog", "/report", "/crop?format=png&aspect=1:1"])
def test_bad_uploads_are_4xx_json(client, path):
    assert_error(post(client, path, b"not an image at all"), 415)
    r = client.post(f"{API}{path}", files={"photo": ("x.png", b"x", "image/png")})
    assert_error(r, 422, "image")
    assert_error(client.post(f"{API}{path}", content=b"{}"), 415, "multipart")


def test_report_of_variants_holds_the_comparison_table(client, image):
    from salmap.design_report import Design, analyse

    b = np.ascontiguousarray(image[:, ::-1])  # a second variant: the same design mirrored
    regions = {"units": "fraction", "regions": [{"name": "logo", "box": [0, 0, 0.5, 0.5]}]}
    files = [
        ("image", ("a.png", png(image), "image/png")),
        ("image", ("b.png", png(b), "image/png")),
    ]
    fields = {"regions": json.dumps(regions)}
    r = client.post(f"{API}/report", files=files, data=fields)
    assert r.status_code == 200, r.text
    assert 'filename="a_variants_report.html"' in r.headers["content-disposition"]
    page = r.text
    assert "Variants compared" in page and "2 variants" in page
    table = page[page.index("Variants compared") : page.index("</table>")]
    assert "<th>a.png</th><th>b.png</th>" in table and "Attention on logo" in table
    # the table's shares are the library's on each variant's map
    for name, rgb in (("a.png", image), ("b.png", b)):
        density = np.load(io.BytesIO(post(client, "/saliency", png(rgb), format="npy").content))
        share = analyse(Design(name, rgb, density), regions).shares.regions[0].attention
        assert f"{100 * share:.1f}%" in table or f"{100 * share:.0f}%" in table
    one = [("image", ("a.png", png(image), "image/png"))]
    assert "Variants compared" not in client.post(f"{API}/report", files=one).text
    many = one * 13
    assert_error(client.post(f"{API}/report", files=many), 422, "13 images", "12 at most")
    bad = [*one, ("image", ("b.png", b"not an image", "image/png"))]
    assert_error(client.post(f"{API}/report", files=bad), 415, "b.png")


def test_a_map_at_display_size_is_bounded_and_holds_the_same_shares(client):
    from salmap.regions import attention_shares

    rng = np.random.default_rng(5)
    big = rng.integers(0, 255, (1100, 3300, 3), dtype=np.uint8)  # k = 3: 367 x 1100 blocks
    full = np.load(io.BytesIO(post(client, "/saliency", png(big), format="npy").content))
    r = post(client, "/saliency", png(big), format="npy", max_side=1100)
    assert r.status_code == 200, r.text
    assert len(r.content) <= 1100 * 367 * 4 + 128  # a quarter of a ninth of the full map
    assert r.headers["x-map-block"] == "3" and r.headers["x-image-size"] == "3300x1100"
    shown = np.load(io.BytesIO(r.content))
    assert shown.shape == (367, 1100)
    assert shown.sum() == pytest.approx(full.sum(), rel=1e-5)
    # a box on block edges (the last row of blocks is 2 pixels high) holds the same share
    box_shown = shown[100:367, 40:700].sum() / shown.sum()
    box = {"b": [40 * 3, 100 * 3, 700 * 3, 1100]}
    assert box_shown == pytest.approx(attention_shares(full, box).regions[0].attention, abs=1e-6)
    small = post(client, "/saliency", png(big[:40, :50]), format="npy", max_side=1100)
    assert small.headers["x-map-block"] == "1" and np.load(io.BytesIO(small.content)).shape == (
        40,
        50,
    )
    assert_error(post(client, "/saliency", png(big), format="json", max_side=100), 422, "max_side")
    assert_error(post(client, "/saliency", png(big), format="npy", max_side=0), 422, "max_side")
