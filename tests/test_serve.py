"""The HTTP API of ``salmap serve`` through FastAPI's TestClient, on a tiny model."""

import asyncio
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="salmap[serve] is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from salmap.cli import main  # noqa: E402
from salmap.models import load_model  # noqa: E402
from salmap.serve.app import ServeSettings, create_app  # noqa: E402
from salmap.serve.batching import Batcher  # noqa: E402

API = "/api/v1"


@pytest.fixture(scope="module")
def tiny_model(tiny_saved_model):
    return tiny_saved_model


def make_client(model_path, **settings) -> TestClient:
    app = create_app(load_model(model_path), settings=ServeSettings(**settings))
    return TestClient(app)


@pytest.fixture(scope="module")
def client(tiny_model):
    with make_client(tiny_model) as c:
        yield c


def jpeg(width=90, height=60, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def post(client, path, data: bytes, name="photo.jpg", **kw):
    return client.post(f"{API}{path}", files={"image": (name, data, "image/jpeg")}, **kw)


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    for w in words:
        assert w.lower() in message.lower(), message


def test_health_and_model(client):
    assert client.get(f"{API}/health").json()["status"] == "ok"
    info = client.get(f"{API}/model").json()
    assert info["name"] == "tiny"
    assert info["input_size"] == {"height": 64, "width": 64}
    assert info["runner"] == "torch"


def test_the_default_model_is_served_on_onnxruntime():
    pytest.importorskip("onnxruntime")
    with TestClient(create_app(load_model("default"))) as c:
        info = c.get(f"{API}/model").json()
    assert (info["name"], info["runner"], info["encoder"]) == (
        "default",
        "onnxruntime",
        "efficientnet_lite0",
    )
    assert info["licence"].startswith("MIT")
    assert info["training_data"]["format"] == ["nus-scene", "osie"]


def test_saliency_formats_at_the_image_resolution(client):
    data = jpeg(90, 60)
    r = post(client, "/saliency?format=npy", data)
    assert r.status_code == 200
    density = np.load(io.BytesIO(r.content))
    assert density.shape == (60, 90) and density.dtype == np.float32
    assert density.sum() == pytest.approx(1.0, abs=1e-4)

    png = Image.open(io.BytesIO(post(client, "/saliency", data).content))
    assert png.size == (90, 60) and png.mode == "L"
    assert np.asarray(png).max() == 255
    png16 = Image.open(io.BytesIO(post(client, "/saliency?format=png16", data).content))
    assert png16.size == (90, 60) and np.asarray(png16).max() == 65535

    summary = post(client, "/saliency?format=json", data).json()
    assert (summary["width"], summary["height"]) == (90, 60)
    row, col = np.unravel_index(np.argmax(density), density.shape)
    assert (summary["peak"]["x"], summary["peak"]["y"]) == (col, row)
    areas = summary["area_for_attention"]
    assert 0 < areas["50%"] < areas["80%"] < areas["95%"] <= 1
    # the area for 50% holds at least half the attention: check against the map itself
    top = np.sort(density.ravel())[::-1][: round(areas["50%"] * density.size)]
    assert top.sum() >= 0.5 - 1e-4


def test_bad_uploads_get_their_4xx_never_500(client):
    truncated = jpeg()[:300]
    assert_error(post(client, "/saliency", truncated), 400, "photo.jpg", "truncated")
    assert_error(post(client, "/saliency", b""), 400, "empty")
    assert_error(post(client, "/saliency", b"hello, I am text", "notes.txt"), 415, "notes.txt")
    r = client.post(f"{API}/saliency", json={"image": "x"})
    assert_error(r, 415, "multipart/form-data")
    r = client.post(
        f"{API}/saliency",
        content=b"--XYZ\r\nContent-Disposition: form-data; name=image\r\n\r\nabc--XY--Z\r\n\x00",
        headers={"content-type": "multipart/form-data; boundary=XYZ"},
    )
    assert_error(r, 400, "malformed multipart")
    assert_error(client.post(f"{API}/saliency", files={"other": ("a.jpg", jpeg())}), 422, "'image'")
    assert_error(post(client, "/saliency?format=gif", jpeg()), 422, "format")


def test_too_large_is_413_by_bytes_and_by_pixels(tiny_model, monkeypatch):
    with make_client(tiny_model, max_upload_mb=0.01) as small:
        big = jpeg(400, 400, seed=1)
        assert len(big) > 0.01 * 2**20
        assert_error(post(small, "/saliency", big), 413, "limit")

        # no Content-Length: the limit is checked on the bytes as they arrive
        body = b"--B\r\nContent-Disposition: form-data; name=image; filename=a.jpg\r\n\r\n"

        def chunks():
            yield body
            for _ in range(100):
                yield b"\0" * 4096

        r = small.post(
            f"{API}/saliency",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=B"},
        )
        assert_error(r, 413, "limit")

    import salmap.data.images as images

    monkeypatch.setattr(images, "MAX_PIXELS", 50 * 50)
    with make_client(tiny_model) as c:
        assert_error(post(c, "/saliency", jpeg(90, 60)), 413, "megapixels")


def test_uploads_stay_in_memory(client, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was about to be written to a temporary file")

    for name in ("SpooledTemporaryFile", "NamedTemporaryFile", "TemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (700, 800, 3), dtype=np.uint8)).save(buf, "PNG")
    assert len(buf.getvalue()) > 1.5 * 2**20  # above Starlette's 1 MB spooling threshold
    r = post(client, "/saliency?format=json", buf.getvalue(), "noise.png")
    assert r.status_code == 200, r.text
    assert (r.json()["width"], r.json()["height"]) == (800, 700)


def test_token_is_required_when_set(tiny_model):
    with make_client(tiny_model, token="s3cret") as c:
        assert_error(post(c, "/saliency", jpeg()), 401, "token")
        bad = {"Authorization": "Bearer nope"}
        assert_error(post(c, "/saliency", jpeg(), headers=bad), 401)
        assert_error(c.get(f"{API}/model"), 401)
        good = {"Authorization": "Bearer s3cret"}
        assert post(c, "/saliency", jpeg(), headers=good).status_code == 200
        assert c.get(f"{API}/health").status_code == 200


def test_page_docs_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "salmap" in page.text
    assert "How far to trust it" in page.text and "graphic designs" in page.text
    for src in ("/static/app.js", "/static/style.css"):
        assert client.get(src).status_code == 200
    assert "http" not in client.get("/static/app.js").text.replace("http://", "")  # no CDN
    assert_error(client.get("/static/..%2Fapp.py"), 404)
    assert_error(client.get("/static/nothing.js"), 404)
    settings = client.get("/page-settings.json").json()
    assert len(settings["colormaps"][settings["colormap"]]) == 256
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn." not in docs.text  # the API docs work offline too
    for src in re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', docs.text):
        assert src.startswith("/") and client.get(src).status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("saliency", "crop", "attention", "health", "model"):
        assert f"{API}/{p}" in paths


def test_cors_is_off_unless_asked(tiny_model, client):
    origin = {"Origin": "http://elsewhere.example"}
    r = client.get(f"{API}/health", headers=origin)
    assert "access-control-allow-origin" not in r.headers
    with make_client(tiny_model, cors_origins=("http://elsewhere.example",)) as c:
        r = c.get(f"{API}/health", headers=origin)
        assert r.headers["access-control-allow-origin"] == "http://elsewhere.example"


def test_batcher_runs_concurrent_inputs_in_one_pass():
    calls = []

    def runner(batch):
        calls.append(len(batch))
        return batch[:, 0] * 2

    async def go():
        b = Batcher(runner, batch_size=4, max_wait_ms=50)
        await b.start()
        xs = [np.full((3, 2, 2), i, np.float32) for i in range(6)]
        out = await asyncio.gather(*(b.run(x) for x in xs))
        await b.stop()
        return xs, out

    xs, out = asyncio.run(go())
    assert calls == [4, 2]
    for x, y in zip(xs, out):
        np.testing.assert_array_equal(y, x[0] * 2)


def test_batcher_hands_a_failure_to_every_waiting_request():
    def runner(batch):
        raise RuntimeError("out of memory")

    async def go():
        b = Batcher(runner, batch_size=2, max_wait_ms=20)
        await b.start()
        out = await asyncio.gather(
            *(b.run(np.zeros((3, 2, 2), np.float32)) for _ in range(2)), return_exceptions=True
        )
        await b.stop()
        return out

    assert all(isinstance(e, RuntimeError) for e in asyncio.run(go()))


def test_one_forward_pass_serves_an_images_map_summary_and_crops(tiny_model):
    """What the page asks about each image (map, summary, crops) costs one forward pass; the
    maps are the same as without the cache, and another image gets its own pass."""

    def ask(c, data):
        passes = c.get(f"{API}/health").json()["forward_passes"]
        density = np.load(io.BytesIO(post(c, "/saliency?format=npy", data).content))
        summary = post(c, "/saliency?format=json", data).json()
        crops = post(c, "/crop", data, name="same bytes, other name.jpg").json()["crops"]
        return c.get(f"{API}/health").json()["forward_passes"] - passes, density, summary, crops

    with make_client(tiny_model) as cached, make_client(tiny_model, cache_size=0) as plain:
        one, *answers = ask(cached, jpeg(seed=4))
        three, *expected = ask(plain, jpeg(seed=4))
        assert (one, three) == (1, 3)
        np.testing.assert_array_equal(answers[0], expected[0])
        assert answers[1:] == expected[1:]
        assert ask(cached, jpeg(seed=5))[0] == 1


def counted_pass(calls: list, value, fail: bool = False, seconds: float = 0.01):
    """A stand-in for the batcher's forward pass, noting each call in ``calls``."""

    async def run():
        calls.append(value)
        await asyncio.sleep(seconds)
        if fail:
            raise RuntimeError("out of memory")
        return np.full((2, 2), value, np.float32)

    return run


def test_prediction_cache_shares_passes_in_flight_keeps_the_latest_and_retries_failures():
    from salmap.serve.cache import PredictionCache

    calls = []

    async def go():
        cache = PredictionCache(size=2)
        # two requests for the same bytes at once: one pass, both answered
        a, b = await asyncio.gather(
            cache.get("a", counted_pass(calls, 1)), cache.get("a", counted_pass(calls, 9))
        )
        await cache.get("b", counted_pass(calls, 2))
        await cache.get("a", counted_pass(calls, 9))  # kept: "a" is now the most recent
        await cache.get("c", counted_pass(calls, 3))  # evicts "b", the least recently used
        await cache.get("b", counted_pass(calls, 4))
        with pytest.raises(RuntimeError):
            await cache.get("d", counted_pass(calls, 5, fail=True))
        d = await cache.get("d", counted_pass(calls, 6))  # the failure was forgotten
        return a, b, d

    a, b, d = asyncio.run(go())
    assert calls == [1, 2, 3, 4, 5, 6]
    assert a[0, 0] == b[0, 0] == 1 and d[0, 0] == 6


def test_a_request_that_leaves_does_not_cancel_the_pass_another_awaits():
    from salmap.serve.cache import PredictionCache

    calls = []

    async def go():
        cache = PredictionCache(size=4)
        leaving = asyncio.ensure_future(cache.get("a", counted_pass(calls, 1, seconds=0.05)))
        staying = asyncio.ensure_future(cache.get("a", counted_pass(calls, 9)))
        await asyncio.sleep(0.01)
        leaving.cancel()
        out = await staying
        again = await cache.get("a", counted_pass(calls, 9))
        return leaving.cancelled(), out, again

    left, out, again = asyncio.run(go())
    assert left and calls == [1]
    assert out[0, 0] == again[0, 0] == 1


def test_a_failed_pass_is_retried_even_before_it_is_forgotten_and_counts_as_recent():
    """A request in the same turn as the failure (before the cache's callback has run) gets a
    new pass, and that retry is the most recent entry, not the old one's place."""
    from salmap.serve.cache import PredictionCache

    calls = []

    async def go():
        cache = PredictionCache(size=2)
        await cache.get("a", counted_pass(calls, 1))
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(RuntimeError("out of memory"))
        failed.exception()  # retrieved: no warning at exit
        cache.entries["b"] = failed
        cache.entries.move_to_end("a")  # "b" the oldest
        b = await cache.get("b", counted_pass(calls, 2))
        await cache.get("c", counted_pass(calls, 3))  # evicts "a", not the retried "b"
        return b, list(cache.entries)

    b, kept = asyncio.run(go())
    assert calls == [1, 2, 3] and b[0, 0] == 2
    assert kept == ["b", "c"]


def test_serve_warns_without_token_on_other_hosts(tiny_model, monkeypatch, capsys):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    assert main(["serve", "--model", str(tiny_model), "--host", "0.0.0.0", "--port", "8123"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "--token" in err
    assert seen["host"] == "0.0.0.0" and seen["port"] == 8123
    main(["serve", "--model", str(tiny_model)])
    assert "warning" not in capsys.readouterr().err and seen["host"] == "127.0.0.1"


def test_serve_reports_a_bad_model_in_one_line(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "missing")]) == 2
    assert "no model there" in capsys.readouterr().err


def test_crop_gives_the_windows_of_salmap_crop(client):
    from salmap.cropping import best_window

    data = jpeg(90, 60)
    density = np.load(io.BytesIO(post(client, "/saliency?format=npy", data).content))
    r = post(client, "/crop?aspect=1:1,16:9&zoom=0.8", data)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["image"], body["width"], body["height"]) == ("photo.jpg", 90, 60)
    assert list(body["crops"]) == ["1:1", "16:9"]
    for aspect, window in body["crops"].items():
        assert window == best_window(density, aspect, 0.8).to_dict()
    default = post(client, "/crop", data).json()
    assert list(default["crops"]) == ["1:1", "16:9", "4:5", "9:16"]
    assert_error(post(client, "/crop?aspect=16-9", data), 422, "16-9")
    assert_error(post(client, "/crop?zoom=0", data), 422, "zoom")
    assert_error(post(client, "/crop?zoom=abc", data), 422, "zoom")


def test_attention_gives_the_shares_of_salmap_attention(client):
    from salmap.regions import attention_shares

    data = jpeg(90, 60)
    density = np.load(io.BytesIO(post(client, "/saliency?format=npy", data).content))
    regions = {"logo": [0, 0, 30, 20], "text": [[40, 10], [80, 10], [60, 50]]}
    r = client.post(
        f"{API}/attention",
        files={"image": ("photo.jpg", data, "image/jpeg")},
        data={"regions": json.dumps(regions)},
    )
    assert r.status_code == 200, r.text
    expected = attention_shares(density, regions).to_dict()
    assert r.json() == {"image": "photo.jpg", **expected}
    grid = post(client, "/attention?regions=2x3", data).json()
    assert len(grid["regions"]) == 6
    assert sum(v["attention"] for v in grid["regions"].values()) == pytest.approx(1, abs=1e-5)

    assert_error(post(client, "/attention", data), 422, "no regions")
    assert_error(post(client, "/attention?regions=%7Bnot%20json", data), 422, "RxC")
    outside = json.dumps({"big": [0, 0, 500, 20]})
    r = client.post(f"{API}/attention", files={"image": ("p.jpg", data)}, data={"regions": outside})
    assert_error(r, 422, "big", "outside")
    # a region parameter is never read as a path, even when such a file exists
    assert_error(post(client, "/attention?regions=pyproject.toml", data), 422)


def test_attention_reads_the_region_format_of_the_page(client):
    from salmap.regions import attention_shares

    data = jpeg(90, 60)
    density = np.load(io.BytesIO(post(client, "/saliency?format=npy", data).content))

    def shares(spec):
        regions = json.dumps(spec)
        return client.post(
            f"{API}/attention", files={"image": ("p.jpg", data)}, data={"regions": regions}
        )

    fraction = {
        "units": "fraction",
        "regions": [
            {"name": "left", "box": [0, 0, 0.5, 1]},
            {"name": "cta", "polygon": [[0.5, 0], [1, 0], [1, 1]]},
        ],
    }
    r = shares(fraction)
    assert r.status_code == 200, r.text
    assert r.json()["regions"]["left"]["attention"] == pytest.approx(
        density[:, :45].sum() / density.sum(), abs=1e-5
    )
    assert r.json()["note"] is None
    # drawn on a 180x120 image: halved for this 90x60 one, and the answer says so
    drawn = {
        "units": "px",
        "size": [180, 120],
        "regions": [{"name": "logo", "box": [0, 0, 60, 40]}],
    }
    r = shares(drawn)
    expected = attention_shares(density, {"logo": [0, 0, 30, 20]}).to_dict()["regions"]
    assert r.json()["regions"]["logo"] == pytest.approx(expected["logo"], abs=1e-5)
    assert "scaled to this 90x60 image" in r.json()["note"]
    assert_error(
        shares({"units": "cm", "regions": [{"name": "a", "box": [0, 0, 1, 1]}]}), 422, "units"
    )
    assert_error(
        shares({"units": "fraction", "regions": [{"name": "a", "box": [0, 0, 3, 1]}]}),
        422,
        "'a'",
        "fractions",
    )
    assert_error(shares({"units": "px", "regions": [{"name": "a"}]}), 422, "'box' or 'polygon'")
    assert_error(shares({"units": "px", "regions": "logo"}), 422, "expected named regions")
