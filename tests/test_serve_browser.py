"""The page in a real browser: headless Chromium, driven by selenium, against a live
``salmap serve`` on 127.0.0.1. Skips where Chromium, its driver or selenium is absent."""

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from salmap.data import NUS_MINI

pytest.importorskip("fastapi", reason="salmap[serve] is not installed")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER),
        reason="Chromium or chromedriver not found (apt-get install chromium chromium-driver)",
    ),
]
IMAGE = NUS_MINI / "images" / "048.jpg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "salmap.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):  # up to 60 s for the model to load
            if proc.poll() is not None:
                pytest.fail(f"salmap serve exited: {proc.stdout.read().decode()}")
            try:
                urllib.request.urlopen(f"{url}/api/v1/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("salmap serve did not answer within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def density_of(url: str, path: Path) -> np.ndarray:
    """The map the API gives for ``path`` (multipart by hand: only the standard library)."""
    boundary = "salmapboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{path.name}"'
            "\r\nContent-Type: image/jpeg\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{url}/api/v1/saliency?format=npy",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        return np.load(io.BytesIO(r.read()))


def pixels(driver, canvas) -> np.ndarray:
    """The canvas's RGBA pixels as a flat float array."""
    data = driver.execute_script(
        "const c = arguments[0];"
        "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);",
        canvas,
    )
    return np.asarray(data, dtype=np.float64)


def wait_for(driver, condition, timeout=60):
    """Wait until `condition` holds; the page redraws its lists, so an element found
    a moment before may be gone when it is read: that counts as not yet."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition)


def test_upload_overlay_region_share_and_screenshot(server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    browser.get(server)
    wait_for(browser, lambda d: "model:" in d.find_element(By.ID, "model").text)
    browser.find_element(By.ID, "files").send_keys(str(IMAGE))
    # the overlay is drawn when the canvas takes the image's size and the list says so
    wait_for(browser, lambda d: "×" in d.find_element(By.CSS_SELECTOR, "#list .note").text)
    canvas = browser.find_element(By.ID, "canvas")
    size = browser.execute_script("const c = arguments[0]; return [c.width, c.height];", canvas)
    density = density_of(server, IMAGE)
    assert size == [density.shape[1], density.shape[0]]
    # the overlay is the image coloured by the heatmap: it differs from the plain image view
    overlay = pixels(browser, canvas)
    browser.find_element(By.CSS_SELECTOR, "input[name=view][value=image]").click()
    plain = pixels(browser, canvas)
    assert np.abs(overlay - plain).mean() > 1
    browser.find_element(By.CSS_SELECTOR, "input[name=view][value=overlay]").click()

    # draw a region from about a quarter to the middle of the image
    w, h = canvas.size["width"], canvas.size["height"]
    chain = ActionChains(browser).move_to_element_with_offset(canvas, -w // 4, -h // 4)
    chain.click_and_hold().move_by_offset(w // 4, h // 4).release().perform()

    def region_item(d):
        item = d.find_element(By.CSS_SELECTOR, "#regions li[data-share]")
        return item.get_attribute("data-share"), item.find_element(By.CSS_SELECTOR, ".share").text

    share, share_text = wait_for(browser, region_item)
    share = float(share)
    x0, y0, x1, y1 = browser.execute_script("return state.current.regions[0].box;")
    assert 0 < x0 < x1 <= size[0] and 0 < y0 < y1 <= size[1]
    expected = density[round(y0) : round(y1), round(x0) : round(x1)].sum()
    assert share == pytest.approx(expected, abs=1e-4)
    assert 0 < share < 1
    assert "%" in share_text

    out = Path(os.environ.get("SALMAP_SCREENSHOT_DIR", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(out / "serve_page.png"))


def test_a_file_that_is_not_an_image_is_reported_in_words(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    notes = tmp_path / "notes.jpg"
    notes.write_text("not a picture")
    browser.get(server)
    wait_for(browser, lambda d: "model:" in d.find_element(By.ID, "model").text)
    browser.find_element(By.ID, "files").send_keys(str(notes))
    message = wait_for(
        browser,
        lambda d: (
            d.find_element(By.ID, "message").is_displayed()
            and d.find_element(By.ID, "message").text
        ),
    )
    assert "notes.jpg" in message and "not an image" in message
