"""The page's downloads, legend and transparent images in headless Chromium against a live
``salmap serve`` (the fixtures of test_serve_browser; skips where Chromium is absent)."""

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_serve_browser import IMAGE, browser, pixels, server, wait_for  # noqa: F401

pytestmark = pytest.mark.slow


def open_page(browser, server, path: Path):  # noqa: F811
    from selenium.webdriver.common.by import By

    browser.get(server)
    wait_for(browser, lambda d: "model:" in d.find_element(By.ID, "model").text)
    browser.find_element(By.ID, "files").send_keys(str(path))
    wait_for(browser, lambda d: "×" in d.find_element(By.CSS_SELECTOR, "#list .note").text)
    return browser.find_element(By.ID, "canvas")


def downloaded(folder: Path, name: str, timeout: float = 60) -> Path:
    path = folder / name
    for _ in range(int(timeout * 10)):
        if path.is_file() and not list(folder.glob("*.crdownload")):
            return path
        time.sleep(0.1)
    pytest.fail(f"{name} was not downloaded; {folder} holds {sorted(folder.iterdir())}")


def test_report_download_with_the_drawn_region_and_the_legend(server, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    open_page(browser, server, IMAGE)
    legend = browser.find_element(By.ID, "legend")
    assert legend.is_displayed() and "25%, 50%, 75%" in legend.text
    ramp = legend.find_element(By.CSS_SELECTOR, ".ramp").value_of_css_property("background-image")
    assert ramp.startswith("linear-gradient")
    browser.find_element(By.ID, "add-region").click()
    browser.find_element(By.ID, "dl-report").click()
    page = downloaded(tmp_path, f"{IMAGE.stem}_report.html").read_text()
    assert "Region 1" in page and IMAGE.name in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert page.count('src="data:image/') == 6  # heatmap, fog and four crops
    browser.find_element(By.ID, "dl-fog").click()
    fog = Image.open(downloaded(tmp_path, f"{IMAGE.stem}_fog.png"))
    browser.find_element(By.ID, "dl-overlay").click()
    overlay = Image.open(downloaded(tmp_path, f"{IMAGE.stem}_overlay.png"))
    assert overlay.width == fog.width and overlay.height > fog.height  # the legend below
    out = Path(os.environ.get("SALMAP_SCREENSHOT_DIR", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(out / "serve_legend.png"))


def test_a_transparent_png_is_shown_over_white(server, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    rgba = np.zeros((120, 160, 4), np.uint8)  # transparent black...
    rgba[30:90, 90:150] = (30, 60, 200, 255)  # ...but for an opaque blue square
    path = tmp_path / "logo.png"
    Image.fromarray(rgba, "RGBA").save(path)
    canvas = open_page(browser, server, path)
    browser.find_element(By.CSS_SELECTOR, "input[name=view][value=image]").click()
    shown = pixels(browser, canvas).reshape(120, 160, 4)
    assert shown[10, 10, :3].min() >= 250  # a transparent pixel: white, as the model saw it
    assert np.abs(shown[60, 120, :3] - (30, 60, 200)).max() <= 2
    browser.find_element(By.CSS_SELECTOR, "input[name=view][value=overlay]").click()
    corner = pixels(browser, canvas).reshape(120, 160, 4)[2, 2, :3]
    assert corner.mean() > 150  # the least salient corner of the overlay: the white image
