"""The page with large images, a report of variants, a token and a server gone, in headless
Chromium against a live ``salmap serve`` (the fixtures of test_serve_browser; skips where
Chromium is absent)."""

import json
import subprocess
import sys
import time
import urllib.request

import pytest
from PIL import Image
from test_serve_browser import (  # noqa: F401
    IMAGE,
    browser,
    density_of,
    design,
    free_port,
    load_page,
    screenshot_dir,
    server,
    wait_for,
)
from test_serve_report_browser import downloaded

pytestmark = pytest.mark.slow


def message_of(browser) -> str:  # noqa: F811
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.ID, "message")
    return wait_for(browser, lambda d: box.is_displayed() and box.text)


def test_a_large_image_comes_at_display_size_with_the_librarys_shares(server, browser, tmp_path):  # noqa: F811
    """A 3300 x 2000 photo: the page gets its map summed over 3 x 3 blocks (1100 x 667, the
    last row of blocks 2 pixels high), and a region's share is the library's on the full map."""
    from selenium.webdriver.common.by import By

    from salmap.regions import attention_shares

    big = tmp_path / "big.jpg"
    with Image.open(IMAGE) as im:
        im.convert("RGB").resize((3300, 2000), Image.Resampling.BICUBIC).save(big, quality=90)
    load_page(browser, server, big)
    canvas = browser.find_element(By.ID, "canvas")
    assert browser.execute_script("const c = arguments[0]; return [c.width, c.height]", canvas) == [
        1100,
        667,
    ]
    assert browser.execute_script("return state.current.block") == 3
    assert "3300 × 2000" in browser.find_element(By.ID, "stats").text
    npy = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter((e) => e.name.includes('format=npy')).map((e) => e.decodedBodySize)"
    )
    assert npy and max(npy) <= 1100 * 667 * 4 + 128  # not the full map's 26 MB
    browser.execute_script(
        "newRegion({box: [100, 200, 700, 667]}); newRegion({box: [37, 41, 300, 150]});"
        "redrawRegions();"
    )
    shares = [
        float(li.get_attribute("data-share"))
        for li in browser.find_elements(By.CSS_SELECTOR, "#regions li[data-share]")
    ]
    regions = browser.execute_script("return regionSetOf(state.current, 'px')")
    assert regions["size"] == [3300, 2000]
    assert regions["regions"][0]["box"] == [300, 600, 2100, 2000]  # cut at the image's edge
    expected = attention_shares(density_of(server, big), regions).regions
    assert shares == pytest.approx([r.attention for r in expected], abs=1e-3)


def test_the_report_of_two_variants_holds_their_comparison(server, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    a = design(tmp_path / "variant-a.png")
    b = design(tmp_path / "variant-b.png", (540, 360), (300, 225, 520, 320), (18, 120, 60))
    template = {"units": "fraction", "regions": [{"name": "button", "box": [0.6, 0.6, 0.95, 0.9]}]}
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    load_page(browser, server, a, b)
    browser.find_element(By.ID, "load-regions").send_keys(str(path))
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ab-table tr[data-region]"))
    browser.find_element(By.ID, "dl-report").click()
    page = downloaded(tmp_path, "variant-a_variants_report.html").read_text()
    table = page[page.index("Variants compared") : page.index("</table>")]
    assert "<th>variant-a.png</th><th>variant-b.png</th>" in table
    assert "Attention on button" in table
    assert page.count('<section class="design"') == 2


def start_serve(*args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "salmap.cli", "serve", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in range(600):
        if proc.poll() is not None:
            pytest.fail(f"salmap serve exited: {proc.stdout.read().decode()}")
        try:
            urllib.request.urlopen(f"{url}/api/v1/health", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    pytest.fail("salmap serve did not answer within 60 s")


def test_a_token_and_a_server_gone_are_said_in_words(browser, tiny_saved_model, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    proc, url = start_serve("--model", str(tiny_saved_model), "--token", "s3cret")
    try:
        browser.get(url)
        browser.execute_script("sessionStorage.clear()")
        browser.get(url)
        message = message_of(browser)
        assert "needs an access token" in message and "API token field" in message
        assert "Authorization" not in message
        field = browser.find_element(By.ID, "token")
        field.send_keys("wrong", Keys.ENTER)
        browser.find_element(By.ID, "files").send_keys(str(design(tmp_path / "one.png")))
        message = message_of(browser)
        assert "did not accept the token" in message and "Bearer" not in message
        field = browser.find_element(By.ID, "token")
        field.clear()
        field.send_keys("s3cret", Keys.ENTER)
        wait_for(browser, lambda d: d.execute_script("return state.items[0].status") == "done")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # the server is gone: the next image says so, and what to do
    browser.find_element(By.ID, "files").send_keys(str(design(tmp_path / "two.png")))
    message = message_of(browser)
    assert f"salmap serve is not running or cannot be reached at {url}" in message, message
    assert "start it again" in message and "Failed to fetch" not in message
    assert browser.save_screenshot(str(screenshot_dir(tmp_path) / "serve_gone.png"))
