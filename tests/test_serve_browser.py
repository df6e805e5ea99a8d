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


def design(path: Path, size=(720, 480), button=(470, 330, 650, 400), colour=(228, 87, 46)):
    """A flat web design on white: a headline, a photo block, a button (its box ``button``)."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    im = Image.new("RGB", size, "white")
    g = ImageDraw.Draw(im)
    g.text(
        (w * 0.06, h * 0.08), "Summer sale", fill=(20, 24, 40), font=ImageFont.load_default(w // 12)
    )
    y, x = np.mgrid[0 : h // 2, 0 : w // 3]
    photo = np.dstack([x * 255 // (w // 3), y * 255 // (h // 2), np.full_like(x, 160)])
    im.paste(Image.fromarray(photo.astype(np.uint8)), (int(w * 0.06), int(h * 0.38)))
    g.rounded_rectangle(button, radius=12, fill=colour)
    g.text(
        (button[0] + 20, button[1] + 18),
        "Buy now",
        fill="white",
        font=ImageFont.load_default(w // 28),
    )
    im.save(path)
    return path


def load_page(browser, server, *files):
    from selenium.webdriver.common.by import By

    browser.get(server)
    wait_for(browser, lambda d: "model:" in d.find_element(By.ID, "model").text)
    browser.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
    wait_for(browser, lambda d: d.execute_script(
        "return state.items.length && state.items.every((i) => i.status === 'done')"
    ))  # fmt: skip


def screenshot_dir(tmp_path) -> Path:
    out = Path(os.environ.get("SALMAP_SCREENSHOT_DIR", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_ab_compares_variants_on_a_template_of_named_regions(server, browser, tmp_path):
    """A region set in fractions goes on two variants of different sizes; the table shows each
    region's share per variant, marks a leader only beyond the tolerance, and the opacity
    slider redraws both variants."""
    import json

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    a = design(tmp_path / "variant-a.png")
    b = design(tmp_path / "variant-b.png", (540, 360), (300, 225, 520, 320), (18, 120, 60))
    template = {
        "units": "fraction",
        "regions": [
            {"name": "headline", "box": [0.04, 0.04, 0.7, 0.26]},
            {"name": "photo", "box": [0.05, 0.37, 0.4, 0.9]},
            {"name": "button", "polygon": [[0.52, 0.6], [0.98, 0.6], [0.98, 0.92], [0.52, 0.92]]},
        ],
    }
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    browser.set_window_size(1400, 1100)
    load_page(browser, server, a, b)
    assert not browser.find_element(By.ID, "show-crops").is_selected()  # crops: when asked
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"units": "cm", "regions": []}))
    browser.find_element(By.ID, "load-regions").send_keys(str(bad))
    message = wait_for(browser, lambda d: d.find_element(By.ID, "message").text)
    assert "bad.json" in message and 'units is "cm"' in message
    browser.find_element(By.ID, "load-regions").send_keys(str(path))
    wait_for(
        browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#ab-table tr[data-region]")) == 3
    )
    assert not browser.find_element(By.ID, "message").is_displayed()
    rows = browser.find_elements(By.CSS_SELECTOR, "#ab-table tr[data-region]")
    assert [r.get_attribute("data-region") for r in rows] == ["headline", "photo", "button"]
    # each cell is the share salmap.regions computes on that variant's map
    from salmap.regions import attention_shares

    for k, image in enumerate([a, b]):
        expected = attention_shares(density_of(server, image), template).regions
        for row, share in zip(rows, expected):
            cell = row.find_elements(By.TAG_NAME, "td")[k + 1].text
            assert cell.startswith(f"{100 * share.attention:.0f}%") or cell.startswith(
                f"{100 * share.attention:.1f}%"
            ), (cell, share)
    # a leader only where the lead is larger than the tolerance shown on the page
    assert "0.02" in browser.find_element(By.ID, "ab-tolerance").text
    leads = browser.execute_script(
        "return [...document.querySelectorAll('#ab-table tr')].slice(1).map((tr) =>"
        " [...tr.cells].slice(1).map((c) => c.className === 'better'))"
    )
    values = browser.execute_script(
        "const done = state.items; return compareRows(done).map(([, f]) => done.map(f))"
        ".map((vs) => vs.map((v) => (v && typeof v === 'object' ? v.attention : v)))"
    )
    for marks, vs in zip(leads, values):
        if None in vs:
            continue
        assert any(marks) == (abs(vs[0] - vs[1]) > 0.02), (marks, vs)
    # the opacity slider redraws both variants
    before = [pixels(browser, c) for c in browser.find_elements(By.CSS_SELECTOR, "#ab canvas")]
    browser.execute_script(
        "const s = document.getElementById('opacity'); s.value = 20;"
        "s.dispatchEvent(new Event('input'));"
    )
    after = [pixels(browser, c) for c in browser.find_elements(By.CSS_SELECTOR, "#ab canvas")]
    assert all(np.abs(x - y).mean() > 1 for x, y in zip(before, after))
    Select(browser.find_element(By.ID, "colormap")).select_by_value("viridis")
    recoloured = [pixels(browser, c) for c in browser.find_elements(By.CSS_SELECTOR, "#ab canvas")]
    assert all(np.abs(x - y).max() > 20 for x, y in zip(after, recoloured))
    browser.find_element(By.CSS_SELECTOR, "input[name=view][value=fog]").click()
    fog = [pixels(browser, c) for c in browser.find_elements(By.CSS_SELECTOR, "#ab canvas")]
    assert all(np.abs(x - y).max() > 20 for x, y in zip(recoloured, fog))
    browser.find_element(By.CSS_SELECTOR, "input[name=view][value=overlay]").click()
    Select(browser.find_element(By.ID, "colormap")).select_by_index(0)
    browser.execute_script(
        "const s = document.getElementById('opacity'); s.value = 70;"
        "s.dispatchEvent(new Event('input'));"
    )
    compare = browser.find_element(By.ID, "compare")
    browser.execute_script("arguments[0].scrollIntoView()", compare)
    assert compare.screenshot(str(screenshot_dir(tmp_path) / "ab_regions.png"))


def test_a_pixel_template_on_another_size_is_scaled_with_a_note(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    a = design(tmp_path / "wide.png")
    b = design(tmp_path / "small.png", (360, 240), (235, 165, 325, 200))
    load_page(browser, server, a, b)
    browser.execute_script("select(state.items[0]); newRegion({box: [470, 330, 650, 400]});")
    browser.execute_script("document.getElementById('units').value = 'px';")
    browser.find_element(By.ID, "use-everywhere").click()
    browser.execute_script("select(state.items[1])")
    note = browser.find_element(By.ID, "region-note")
    assert note.is_displayed() and "720 × 480 were scaled to this 360 × 240" in note.text
    assert browser.execute_script("return state.items[1].regions[0].box") == [235, 165, 325, 200]
    captions = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#ab figcaption")]
    assert "scaled" not in captions[0] and "scaled to this 360 × 240" in captions[1]
    # the regions file written is the format salmap attention reads, with the image's size
    written = browser.execute_script("return regionSetOf(state.items[0], 'px')")
    assert written == {"units": "px", "size": [720, 480], "regions": [
        {"name": "Region 1", "box": [470, 330, 650, 400]}]}  # fmt: skip


def test_regions_are_renamed_clamped_labelled_outside_and_drawn_as_polygons(
    server, browser, tmp_path
):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.set_window_size(390, 844)  # a phone
    load_page(browser, server, design(tmp_path / "page.png"))
    canvas = browser.find_element(By.ID, "canvas")
    browser.find_element(By.ID, "add-region").click()
    name = browser.find_element(By.CSS_SELECTOR, "#regions input.name")
    name.send_keys(Keys.CONTROL, "a")
    name.send_keys("Hero", Keys.ENTER)
    wait_for(browser, lambda d: d.execute_script("return state.current.regions[0].name") == "Hero")
    canvas.click()  # a click starts no region when it ends where it began
    browser.execute_script("state.selectedRegion = 0; arguments[0].focus()", canvas)
    for _ in range(80):
        canvas.send_keys(Keys.ARROW_LEFT)
    for _ in range(80):
        canvas.send_keys(Keys.ARROW_UP)
    box = browser.execute_script("return state.current.regions[0].box")
    assert box[0] == 0 and box[1] == 0 and box[2] - box[0] == 180 and box[3] - box[1] == 120
    for _ in range(200):
        canvas.send_keys(Keys.SHIFT, Keys.ARROW_RIGHT)
    assert browser.execute_script("return state.current.regions[0].box")[2] == 720
    # the label is drawn below a region at the top edge, above one lower down: never on it
    browser.execute_script(
        "state.current.regions[0].box = [200, 200, 400, 300]; state.selectedRegion = -1; draw();"
    )
    inside = browser.execute_script(
        "const g = document.getElementById('canvas').getContext('2d');"
        "return Array.from(g.getImageData(210, 210, 180, 80).data)"
    )
    plain = browser.execute_script(
        "const v = renderView(state.current, state.view, state.alpha, state.colormap);"
        "const out = []; for (let y = 210; y < 290; y++) for (let x = 210; x < 390; x++)"
        " for (let c = 0; c < 4; c++) out.push(v.data[4 * (y * v.width + x) + c]); return out;"
    )
    assert inside == plain  # nothing drawn inside the region
    # a polygon: three clicks and Enter
    browser.execute_script("document.getElementById('shape').value = 'polygon';")
    w, h = canvas.size["width"], canvas.size["height"]
    chain = ActionChains(browser)
    for fx, fy in [(0.6, 0.65), (0.9, 0.65), (0.9, 0.85)]:
        chain.move_to_element_with_offset(canvas, int((fx - 0.5) * w), int((fy - 0.5) * h)).click()
    chain.perform()
    canvas.send_keys(Keys.ENTER)
    polygon = browser.execute_script("return state.current.regions[1].polygon")
    assert len(polygon) == 3
    share = float(
        browser.find_elements(By.CSS_SELECTOR, "#regions li[data-share]")[1].get_attribute(
            "data-share"
        )
    )
    from salmap.regions import attention_shares

    expected = attention_shares(density_of(server, tmp_path / "page.png"), {"p": polygon})
    assert share == pytest.approx(expected.regions[0].attention, abs=1e-4)
    assert browser.save_screenshot(str(screenshot_dir(tmp_path) / "phone_regions.png"))
    browser.set_window_size(1400, 1000)


def test_an_image_can_be_removed_from_the_list(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    a, b = design(tmp_path / "one.png"), design(tmp_path / "two.png", (540, 360))
    load_page(browser, server, a, b)
    assert browser.find_element(By.ID, "compare").is_displayed()
    browser.find_element(By.CSS_SELECTOR, "#list li:first-child .remove").click()
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#list .name")]
    assert names == ["two.png"]
    assert not browser.find_element(By.ID, "compare").is_displayed()
    assert browser.find_element(By.ID, "title").text == "two.png"
    browser.find_element(By.CSS_SELECTOR, "#list .remove").click()
    assert not browser.find_elements(By.CSS_SELECTOR, "#list li")
    assert browser.find_element(By.ID, "empty").is_displayed()
    assert not browser.find_element(By.ID, "result").is_displayed()
