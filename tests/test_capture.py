"""Pages by URL (``salmap capture``, ``predict URL``, ``attention URL``) and long pages.

The browser tests capture pages this test serves itself on 127.0.0.1; they skip where Chromium,
chromedriver or selenium is absent. The URL checks and the long-page model need no browser."""

import http.server
import io
import json
import shutil
import threading
import time
from functools import partial

import numpy as np
import pytest
from PIL import Image

from salmap.capture import (
    DEFAULT_VIEWPORT,
    PrivateAddressError,
    check_url,
    is_url,
    page_name,
    parse_viewport,
    public_address,
)
from salmap.cli import main
from salmap.errors import SalmapError
from salmap.inference import (
    ABOVE_FOLD_SHARE,
    long_page_fold,
    page_windows,
    restore,
    scroll_weights,
)
from salmap.models import ModelConfig

HAS_BROWSER = bool(
    (shutil.which("chromium") or shutil.which("chromium-browser")) and shutil.which("chromedriver")
)
try:
    import selenium  # noqa: F401
except ImportError:
    HAS_BROWSER = False
browser = pytest.mark.skipif(
    not HAS_BROWSER, reason="Chromium, chromedriver or selenium not found (salmap[capture])"
)


# --- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "data:text/html,<h1>hi</h1>",
        "javascript:alert(1)",
        "ftp://example.com/page.html",
        "chrome://settings",
    ],
)
def test_only_http_and_https_are_captured(url):
    assert is_url(url)
    with pytest.raises(SalmapError, match="only http:// and https://"):
        check_url(url)


def test_a_url_needs_a_host_and_names_its_outputs():
    with pytest.raises(SalmapError, match="no host"):
        check_url("http:///path")
    assert check_url(" https://example.com/a ") == "https://example.com/a"
    assert page_name("https://example.com/shop/item?id=7&x=../..") == "example.com-shop-item-id-7-x"
    assert page_name("http://127.0.0.1:8000/") == "127.0.0.1-8000"
    assert not is_url("photos/a.jpg")


def test_viewports_are_checked():
    assert parse_viewport("390x844") == (390, 844)
    for bad in ("1440", "0x900", "1440x90000", "wide"):
        with pytest.raises(SalmapError, match="--viewport"):
            parse_viewport(bad)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://[fe80::1]/",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(url):
    with pytest.raises(SalmapError, match="private, loopback or reserved"):
        public_address(url)


def test_an_allowed_host_and_port_passes_and_a_public_address_is_pinned():
    assert public_address("http://127.0.0.1:8000/x", frozenset({"127.0.0.1:8000"})) is None
    with pytest.raises(SalmapError):  # the same host on another port is not allowed
        public_address("http://127.0.0.1:8001/x", frozenset({"127.0.0.1:8000"}))
    assert public_address("http://93.184.216.34/") is None  # an address given as such


# --- long pages ----------------------------------------------------------------------------


def test_scroll_weights_follow_the_stated_prior():
    w = scroll_weights(40)
    assert w.sum() == pytest.approx(1)
    assert w[0] == pytest.approx(ABOVE_FOLD_SHARE, abs=1e-3)
    assert w[:2].sum() == pytest.approx(0.74, abs=1e-3)
    assert np.all(np.diff(w) < 0)
    assert scroll_weights(1).tolist() == [1.0]


def test_long_page_mode_auto_needs_a_viewport_and_a_tall_image():
    assert long_page_fold((5000, 1440), "auto", None) is None  # a file without --viewport
    assert long_page_fold((5000, 1440), "auto", (1440, 900)) == 900
    assert long_page_fold((1300, 1440), "auto", (1440, 900)) is None  # under 1.5 viewports
    assert long_page_fold((10000, 2880), "auto", (1440, 900)) == 1800  # a retina capture
    assert long_page_fold((1000, 1440), "on", None) == round(1440 * 900 / 1440)
    assert long_page_fold((5000, 1440), "off", (1440, 900)) is None
    with pytest.raises(SalmapError, match="--long-page"):
        long_page_fold((5000, 1440), "sometimes", None)


class UniformRunner:
    """A model that sees nothing: the same map for every input."""

    config = ModelConfig(
        encoder="tiny", input_size=(32, 48), aspect="resize", mean=(0, 0, 0), std=(1, 1, 1)
    )

    def __call__(self, batch):
        return np.ones((len(batch), 32, 48), np.float32)


def test_a_long_page_gets_each_screenfuls_share_of_the_prior():
    page = np.full((4800, 300, 3), 255, np.uint8)
    x, geometry = page_windows(page, 600, UniformRunner.config)
    assert x.shape[0] == len(geometry.starts) and geometry.starts[-1] == 4800 - 600
    density = restore(UniformRunner()(x), geometry)
    assert density.shape == (4800, 300) and density.sum() == pytest.approx(1, abs=1e-5)
    shares = [density[s : s + 600].sum() for s in range(0, 4800, 600)]
    assert shares == pytest.approx(scroll_weights(8), abs=1e-4)
    # rows within a screenful are alike: windows blend without seams
    assert np.ptp(density[601:1199, 150]) < 1e-3 * density[601:1199, 150].max()


def test_a_long_page_puts_the_hero_above_the_bottom():
    """A 1440x5000 page: a headline above the fold, section titles, a red block in the fourth
    screenful. The model on the whole page squeezed into its input gives the fold's screenful
    about 5% of the attention and the red block's 60%; read as a long page, the fold's
    screenful gets the most and the bottom the least."""
    from PIL import ImageDraw

    from salmap.cropping import predictor

    page = Image.new("RGB", (1440, 5000), "white")
    draw = ImageDraw.Draw(page)
    draw.text((100, 300), "Welcome to our product", fill=(40, 40, 40), font_size=48)
    for k in range(1, 6):
        draw.text((100, 900 * k + 100), f"Section {k}", fill="black", font_size=32)
    draw.rectangle((600, 3300, 900, 3600), fill=(255, 0, 0))
    model = predictor("default")
    whole = model.predict(page)
    long = model.predict(page, long_page="auto", viewport=(1440, 900))
    screens = [[d[i : i + 900].sum() for i in range(0, 5000, 900)] for d in (whole, long)]
    assert np.argmax(screens[0]) != 0  # the issue: the whole-page map misses the fold
    assert screens[1][0] > 0.5 and screens[1][0] == max(screens[1])
    assert screens[1][-1] < screens[1][0] / 10
    assert long[3300:3600, 600:900].sum() < whole[3300:3600, 600:900].sum() / 2


def test_predict_marks_the_fold_on_a_long_pages_overlay(tmp_path, tiny_saved_model):
    page = np.full((800, 200, 3), 200, np.uint8)
    Image.fromarray(page).save(tmp_path / "page.png")
    out = tmp_path / "out"
    argv = ["predict", str(tmp_path / "page.png"), "--out", str(out), "--save", "map,overlay"]
    argv += ["--model", str(tiny_saved_model), "--no-legend"]
    assert main([*argv, "--viewport", "400x200"]) == 0
    line = json.loads((out / "manifest.jsonl").read_text())
    assert line["note"] == "long page: 8 screenfuls, fold at 100 px"
    overlay = np.asarray(Image.open(out / "page_overlay.jpg")).astype(int)
    dark = overlay.max(axis=2) < 60  # the fold's black dashes; the page is light grey
    assert dark[100, :150].mean() > 0.3 and not dark[150].any() and not dark[:90, :150].any()
    assert dark[80:98, -20:].mean() > 0.5  # the "fold" tag above the line, on the right
    # without --viewport a file is a picture, predicted whole
    assert main([*argv, "--overwrite"]) == 0
    assert "note" not in json.loads((out / "manifest.jsonl").read_text())


# --- pages served here ---------------------------------------------------------------------

PAGE = """<!doctype html><html><head><style>
* {{ box-sizing: border-box }} body {{ margin: 0; font-family: sans-serif }}
.hero {{ height: 100vh; background: #246; color: white; font-size: 64px; padding: 40px }}
.section {{ height: 800px; border-top: 1px solid #ccc; padding: 40px; font-size: 24px }}
</style></head><body><div class="hero">Big hero headline</div>
{sections}
<script>setTimeout(() => {{ const i = new Image(); i.src = '/late.png';
i.style = 'position: absolute; left: 0; top: 0'; document.body.appendChild(i) }}, 200)</script>
</body></html>"""


def red_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (120, 80), (255, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


class Handler(http.server.BaseHTTPRequestHandler):
    delay = {"/late.png": 1.0, "/slow.png": 30.0}

    def do_GET(self):
        path = self.path.split("?")[0]
        time.sleep(self.delay.get(path, 0))
        if path == "/tall.html":
            body, kind = PAGE.format(sections='<div class="section">s</div>' * 5).encode(), "html"
        elif path == "/short.html":
            body, kind = PAGE.format(sections="").encode(), "html"
        elif path == "/leak.html":  # an image from the same server, by another name
            port = self.server.server_address[1]
            body, kind = f'<img src="http://localhost:{port}/pic.png">'.encode(), "html"
        elif path == "/slow.html":
            body, kind = b'<html><body><img src="/slow.png"></body></html>', "html"
        elif path.endswith(".png"):
            body, kind = red_png(), "png"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if kind == "html" else "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@browser
@pytest.mark.slow
def test_capture_waits_for_an_image_that_loads_late(site, tmp_path):
    out = tmp_path / "page.png"
    assert main(["capture", f"{site}/short.html", "--viewport", "800x600", "--out", str(out)]) == 0
    shot = np.asarray(Image.open(out))
    assert shot.shape == (600, 800, 3)
    # the image a script added 0.2 s after loading, served 1 s later, is in the screenshot
    assert (shot[10:70, 10:110] == (255, 0, 0)).all()


@browser
@pytest.mark.slow
def test_full_page_capture_and_errors(site, tmp_path):
    from salmap.capture import capture

    shot = capture(f"{site}/tall.html", (1000, 700), full_page=True)
    assert (shot.width, shot.height) == (1000, 700 + 5 * 800)  # the 100vh hero kept at 700
    with pytest.raises(SalmapError, match="did not load within 1 s"):
        capture(f"{site}/slow.html", (800, 600), timeout=1)
    with pytest.raises(SalmapError, match="HTTP 404"):
        capture(f"{site}/missing.html")
    with pytest.raises(SalmapError, match="127.0.0.1 resolves to 127.0.0.1"):
        capture(f"{site}/tall.html", guard=public_address)
    # an allowed page that loads from a private host is refused after loading
    allowed = partial(public_address, allowed=frozenset({site.removeprefix("http://")}))
    assert capture(f"{site}/short.html", guard=allowed).height == 900
    with pytest.raises(PrivateAddressError, match="localhost resolves to"):
        capture(f"{site}/leak.html", guard=allowed)


@browser
@pytest.mark.slow
def test_predict_and_attention_take_a_url(site, tmp_path, capsys):
    out = tmp_path / "out"
    url = f"{site}/tall.html"
    assert main(["predict", url, "--full-page", "--out", str(out), "--save", "map"]) == 0
    name = page_name(url)
    assert (out / f"{name}_capture.png").is_file() and (out / f"{name}_map.png").is_file()
    line = json.loads((out / "manifest.jsonl").read_text())
    assert line["note"].startswith("long page: 6 screenfuls, fold at 900 px")
    capsys.readouterr()
    assert main(["attention", url, "--full-page", "--grid", "6x1", "--json"]) == 0
    shares = json.loads(capsys.readouterr().out)["regions"]
    assert shares["r1c1"]["attention"] > 3 * shares["r6c1"]["attention"]
    assert DEFAULT_VIEWPORT == (1440, 900)
