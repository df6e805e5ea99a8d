"""``salmap serve`` and live pages: POST /api/v1/capture (off by default, never private
addresses) and long pages through ``viewport`` on /saliency, /crop and /attention."""

import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="salmap[serve] is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from salmap.cli import main  # noqa: E402
from salmap.models import load_model  # noqa: E402
from salmap.serve.app import ServeSettings, create_app  # noqa: E402
from tests.test_capture import HAS_BROWSER, site  # noqa: E402, F401

API = "/api/v1"


def client_for(model_path, **settings) -> TestClient:
    return TestClient(create_app(load_model(model_path), settings=ServeSettings(**settings)))


def png(width, height) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_urls_are_not_fetched_unless_allowed(tiny_saved_model):
    with client_for(tiny_saved_model) as c:
        r = c.post(f"{API}/capture", json={"url": "https://example.com/"})
        assert r.status_code == 403 and "--allow-urls" in r.json()["error"]
        assert c.get("/page-settings.json").json()["urls"] is False


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"url": "file:///etc/passwd"}, 422, "only http:// and https://"),
        ({"url": "javascript:alert(1)"}, 422, "only http:// and https://"),
        ({"url": "http://127.0.0.1:8000/"}, 403, "private, loopback or reserved"),
        ({"url": "http://localhost/"}, 403, "private, loopback or reserved"),
        ({"url": "http://169.254.169.254/latest/"}, 403, "private, loopback or reserved"),
        ({"url": "http://[::1]:80/"}, 403, "private, loopback or reserved"),
        ({"url": "http://10.0.0.1/"}, 403, "private, loopback or reserved"),
        ({"url": "https://example.com/", "viewport": "big"}, 422, "viewport takes"),
        ({"viewport": "1440x900"}, 422, "bad parameters"),
    ],
)
def test_an_allowed_server_still_refuses_bad_and_private_urls(
    tiny_saved_model, body, status, words
):
    with client_for(tiny_saved_model, allow_urls=True, allow_hosts=("127.0.0.1:9",)) as c:
        r = c.post(f"{API}/capture", json=body)
        assert r.status_code == status and words in r.json()["error"]


@pytest.mark.skipif(not HAS_BROWSER, reason="Chromium, chromedriver or selenium not found")
@pytest.mark.slow
def test_an_allowed_host_is_captured_and_predicted_as_a_long_page(tiny_saved_model, site):  # noqa: F811
    host = site.removeprefix("http://")
    with client_for(tiny_saved_model, allow_urls=True, allow_hosts=(host,)) as c:
        assert c.get("/page-settings.json").json()["urls"] is True
        body = {"url": f"{site}/tall.html", "viewport": "800x600", "full_page": True}
        r = c.post(f"{API}/capture", json=body)
        assert r.status_code == 200 and r.headers["x-viewport"] == "800x600"
        shot = Image.open(io.BytesIO(r.content))
        assert shot.size == (800, 600 + 5 * 800)
        files = {"image": ("page.png", r.content, "image/png")}
        summary = c.post(f"{API}/saliency?format=json&viewport=800x600", files=files).json()
        assert summary["fold"] == 600 and summary["height"] == 4600
        # the same host on another port is private and not allowed
        other = {"url": f"http://{host.split(':')[0]}:9/"}
        assert c.post(f"{API}/capture", json=other).status_code == 403


def test_a_tall_screenshot_with_its_viewport_is_a_long_page(tiny_saved_model):
    files = {"image": ("page.png", png(100, 400), "image/png")}
    with client_for(tiny_saved_model) as c:
        plain = c.post(f"{API}/saliency?format=json", files=files).json()
        assert "fold" not in plain
        long = c.post(f"{API}/saliency?format=json&viewport=200x100", files=files).json()
        assert long["fold"] == 50 and (long["width"], long["height"]) == (100, 400)
        r = c.post(f"{API}/saliency?format=npy&viewport=200x100", files=files)
        assert r.headers["x-fold"] == "50"
        density = np.load(io.BytesIO(r.content))
        assert density[:50].sum() > 0.5 > density[-50:].sum()
        r = c.post(f"{API}/attention?viewport=200x100&regions=8x1", files=files)
        assert r.json()["regions"]["r1c1"]["attention"] == pytest.approx(density[:50].sum(), 1e-4)
        for bad in ("viewport=2x1", "viewport=200x100&long_page=maybe"):
            r = c.post(f"{API}/saliency?format=json&{bad}", files=files)
            assert r.status_code == 422 and "error" in r.json()


def test_serve_checks_its_url_options(tiny_saved_model, capsys):
    assert main(["serve", "--allow-host", "127.0.0.1:80"]) == 2
    assert "--allow-host applies with --allow-urls" in capsys.readouterr().err
    assert main(["serve", "--allow-urls", "--allow-host", "127.0.0.1"]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_BROWSER, reason="Chromium, chromedriver or selenium not found")
@pytest.mark.slow
def test_the_page_captures_a_url_and_marks_the_fold(site, tmp_path):  # noqa: F811
    """The page of a server started with --allow-urls: a local URL captured whole, its map
    drawn with the fold; a screenshot goes to $SALMAP_SCREENSHOTS when set."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from selenium.webdriver.common.by import By

    from tests.test_serve_browser import free_port, wait_for

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    host = site.removeprefix("http://")
    cmd = [sys.executable, "-m", "salmap.cli", "serve", "--port", str(port), "--allow-urls"]
    proc = subprocess.Popen([*cmd, "--allow-host", host], stderr=subprocess.STDOUT)
    driver = None
    try:
        for _ in range(600):  # up to 60 s for the model to load
            if _answers(urllib.request, f"{url}/api/v1/health"):
                break
            time.sleep(0.1)
        driver = _chromium()
        driver.get(url)
        wait_for(driver, lambda d: d.find_element(By.ID, "url-form").is_displayed())
        driver.find_element(By.ID, "url").send_keys(f"{site}/tall.html")
        driver.find_element(By.ID, "url-go").click()
        wait_for(driver, lambda d: "×" in d.find_element(By.CSS_SELECTOR, "#list .note").text, 120)
        canvas = driver.find_element(By.ID, "canvas")
        w, h = driver.execute_script("return [arguments[0].width, arguments[0].height];", canvas)
        k = -(-(900 + 5 * 800) // 1600)  # the page gets the map in k x k blocks (max side 1600)
        assert (w, h) == (-(-1440 // k), -(-(900 + 5 * 800) // k))
        if os.environ.get("SALMAP_SCREENSHOTS"):
            driver.save_screenshot(os.path.join(os.environ["SALMAP_SCREENSHOTS"], "long-page.png"))
        # the plain image view: dark blue hero, white below; the fold is drawn on every view
        driver.find_element(By.CSS_SELECTOR, "input[name=view][value=image]").click()
        top = 900 // k - 10  # 20 rows around the fold, columns 15-64, in the map's blocks
        rows = driver.execute_script(
            "return Array.from(arguments[0].getContext('2d')"
            f".getImageData(15, {top}, 50, 20).data);",
            canvas,
        )
        dark = np.asarray(rows).reshape(20, 50, 4)[..., :3].max(axis=2) < 40
        # the fold's dashes at page row 900 (block row 900 / k), a pixel or two thick
        assert dark[9:12].any(axis=0).mean() > 0.3 and not dark[:4].any() and not dark[-4:].any()
    finally:
        if driver:
            driver.quit()
        proc.terminate()
        proc.wait(timeout=20)


def _answers(urllib_request, url) -> bool:
    try:
        urllib_request.urlopen(url, timeout=1)
        return True
    except OSError:
        return False


def _chromium():
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def test_model_info_shows_no_paths_of_the_training_machine():
    with client_for("default") as c:
        info = c.get(f"{API}/model").json()
    assert info["training_data"]["datasets"] == ["nus-scene", "osie"]

    def strings(v):
        if isinstance(v, dict):
            return [s for x in v.values() for s in strings(x)]
        if isinstance(v, list):
            return [s for x in v for s in strings(x)]
        return [v] if isinstance(v, str) else []

    assert not [s for s in strings(info) if "/" in s or "\\" in s]


def test_openapi_documents_errors_as_sent_the_token_and_examples(tiny_saved_model):
    with client_for(tiny_saved_model, token="secret") as c:
        spec = c.get("/openapi.json").json()
        sent = c.post(f"{API}/saliency", files={"image": ("a.png", b"x", "image/png")})
    assert sent.status_code == 401 and set(sent.json()) == {"error"}
    assert spec["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["token"]["description"],
    }
    assert spec["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
    expected = {"saliency": {400, 401, 413, 415, 422}, "capture": {401, 403, 422, 502}}
    expected |= {"crop": expected["saliency"], "attention": expected["saliency"], "model": {401}}
    for name, codes in expected.items():
        (op,) = spec["paths"][f"{API}/{name}"].values()
        assert {"token": []} in op["security"]
        for code in codes:
            content = op["responses"][str(code)]["content"]["application/json"]
            assert content["schema"]["$ref"].endswith("/ErrorBody")
            assert set(content["example"]) == {"error"}
        assert "422" not in op["responses"] or "HTTPValidationError" not in str(op["responses"])
    for name in ("health", "model", "saliency", "crop", "attention"):
        (op,) = spec["paths"][f"{API}/{name}"].values()
        assert op["responses"]["200"]["content"]["application/json"]["example"]
