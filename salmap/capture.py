"""Screenshots of live pages: a URL rendered by headless Chromium (driven by selenium) into an
RGB PNG, at a viewport's width, the first screenful or the whole page.

Only ``http://`` and ``https://`` URLs are loaded. The page is captured once it has loaded, its
fonts are ready (``document.fonts.ready``) and every image is complete, re-checked after a short
settle so that images a script adds just after loading are waited for too; all of it within
``timeout`` seconds. A full page is captured at the viewport's size (so that ``100vh`` sections
keep their height) with the rest rendered beyond it, after scrolling through once so that lazy
images load; it stops at :data:`MAX_PAGE_HEIGHT` pixels.

A server that fetches URLs for others passes ``guard``: every host the page loaded from
(the page itself, redirects, images, scripts...) is checked by it, and the page's own host is
pinned to the address checked, so that a second DNS answer cannot point elsewhere
(:func:`public_address`).
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from salmap.errors import SalmapError

SCHEMES = ("http", "https")
DEFAULT_VIEWPORT = (1440, 900)  # (width, height) in CSS pixels: a common laptop screen
DEFAULT_TIMEOUT = 30.0  # seconds for the page, its fonts and images
MAX_PAGE_HEIGHT = 20_000  # pixels of a full-page capture; longer pages are cut here
CAPTURE_SUFFIX = "_capture.png"  # a page captured for salmap predict, beside its outputs
SETTLE_SECONDS = 0.5  # wait this long after all images are complete, then check again
MOBILE_WIDTH = 600  # viewports narrower than this are emulated as a phone (touch, mobile layout)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")  # looked up on PATH
_VIEWPORT = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


class PrivateAddressError(SalmapError):
    """A URL whose host resolves to an address a server must not fetch for others."""


@dataclass(frozen=True)
class Capture:
    """A page's screenshot: ``png`` bytes of ``width`` x ``height`` pixels, the ``viewport``
    (width, height) it was taken at, and a ``note`` when the page was cut short."""

    url: str
    png: bytes
    width: int
    height: int
    viewport: tuple[int, int]
    note: str | None = None


def parse_viewport(text: str) -> tuple[int, int]:
    """``"1440x900"`` -> (1440, 900): width and height in CSS pixels, each 100-10000."""
    m = _VIEWPORT.match(text or "")
    if not m:
        raise SalmapError(
            f"--viewport takes WIDTHxHEIGHT such as 1440x900 or 390x844; got {text!r}"
        )
    w, h = int(m[1]), int(m[2])
    if not (100 <= w <= 10_000 and 100 <= h <= 10_000):
        raise SalmapError(f"--viewport {text}: width and height must be 100-10000 pixels")
    return w, h


def is_url(text: str) -> bool:
    """Whether ``text`` names a page rather than a file: it starts with a URL scheme
    (``http:``, ``file:``, ``data:``, ``javascript:``...) and is not an existing file."""
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+:", text)) and not Path(text).exists()


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host; else a SalmapError saying why."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in SCHEMES:
        scheme = f"{parts.scheme}:" if parts.scheme else "no scheme"
        raise SalmapError(
            f"{url[:200]!r}: only http:// and https:// pages can be captured ({scheme} refused)"
        )
    if not parts.hostname:
        raise SalmapError(f"{url[:200]!r}: no host in this URL")
    return url.strip()


def page_name(url: str) -> str:
    """A file name stem for ``url``: host and path, every other character ``-``,
    ``https://example.com/a/b?x=1`` -> ``example.com-a-b-x-1`` (at most 100 characters)."""
    parts = urlsplit(url)
    text = "-".join(p for p in (parts.netloc, parts.path, parts.query) if p)
    name = re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-.")[:100].strip("-.")
    return name or "page"


def public_address(url: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """Refuse a URL whose host resolves to a private, loopback, link-local, multicast, reserved
    or unspecified address (every address the host has is checked), unless its ``host:port`` is
    in ``allowed``. Returns the address to pin the host to (None for an allowed host or an
    address given as such)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if f"{host}:{port}" in allowed:
        return None
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise SalmapError(f"{host}: cannot resolve this host ({e})") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for a in addresses:
        if not a.is_global or a.is_multicast:
            raise PrivateAddressError(
                f"{host} resolves to {a}, a private, loopback or reserved address: "
                "this server does not fetch those"
            )
    return None if _is_address(host) else str(addresses[0])


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def find_chromium() -> str | None:
    """The first of :data:`BROWSERS` on PATH, or None."""
    return next(filter(None, map(shutil.which, BROWSERS)), None)


def find_browser() -> tuple[str, str]:
    """(Chromium, chromedriver) found on PATH, or a SalmapError saying what to install."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise SalmapError("capturing pages needs selenium: pip install 'salmap[capture]'") from None
    browser = find_chromium()
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        missing = "Chromium" if not browser else "chromedriver"
        raise SalmapError(
            f"capturing pages needs Chromium and chromedriver on PATH; {missing} was not found "
            "(Debian/Ubuntu: apt-get install chromium chromium-driver)"
        )
    return browser, driver


def capture(
    url: str,
    viewport: tuple[int, int] = DEFAULT_VIEWPORT,
    full_page: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    guard: Callable[[str], str | None] | None = None,
) -> Capture:
    """The screenshot of ``url`` at ``viewport`` (width, height in CSS pixels, one device
    pixel each): the first screenful, or with ``full_page`` the page down to its end (at most
    :data:`MAX_PAGE_HEIGHT`). ``guard(url)`` checks a URL, raising SalmapError to refuse it,
    and gives the address to pin its host to. Raises SalmapError when the URL is refused,
    fails to load, answers an HTTP error or takes longer than ``timeout`` seconds."""
    from selenium.common.exceptions import TimeoutException, WebDriverException

    url = check_url(url)
    pin = guard(url) if guard else None
    if timeout <= 0:
        raise SalmapError(f"--timeout must be positive; got {timeout}")
    driver = _start(viewport, pin and f"MAP {urlsplit(url).hostname} {pin}")
    deadline = time.monotonic() + timeout
    try:
        driver.set_page_load_timeout(timeout)
        driver.get(url)
        _check_loaded(driver, url)
        if full_page:
            _scroll_through(driver, viewport[1], deadline)
        _wait_for_content(driver, deadline, MAX_PAGE_HEIGHT if full_page else viewport[1])
        if guard:
            _check_loaded_hosts(driver, guard)
        return _screenshot(driver, url, viewport, full_page)
    except TimeoutException:
        raise SalmapError(
            f"{url}: the page, its fonts and images did not load within {timeout:g} s "
            "(--timeout sets the limit)"
        ) from None
    except WebDriverException as e:
        reason = (e.msg or str(e)).strip().splitlines()[0]
        raise SalmapError(f"{url}: the browser could not load it: {reason}") from None
    finally:
        driver.quit()


def _start(viewport: tuple[int, int], resolver_rule: str | None):
    """Headless Chromium with a ``viewport``-sized page (one device pixel per CSS pixel)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_browser()
    options = Options()
    options.binary_location = browser
    w, h = viewport
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={w},{h}")
    options.add_argument("--force-device-scale-factor=1")
    if resolver_rule:
        options.add_argument(f"--host-resolver-rules={resolver_rule}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < MOBILE_WIDTH},
    )
    return driver


def _check_loaded(driver, url: str) -> None:
    """Refuse a page the browser could not reach or that answered an HTTP error."""
    where, code, status = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "const code = document.querySelector('.error-code');"
        "return [location.href, code ? code.textContent.trim() : '',"
        " n && n.responseStatus ? n.responseStatus : 0];"
    )
    if where.startswith("chrome-error:"):  # Chromium's own page for a network error
        raise SalmapError(f"{url}: the browser could not reach this page ({code or 'no answer'})")
    if status and int(status) >= 400:
        raise SalmapError(f"{url}: the server answered HTTP {status}")


def _scroll_through(driver, step: int, deadline: float) -> None:
    """Scroll down the page a screenful at a time (lazy images load), then back to the top."""
    y = 0
    while y < min(_page_height(driver), MAX_PAGE_HEIGHT) and time.monotonic() < deadline:
        y += step
        driver.execute_script("window.scrollTo(0, arguments[0]);", y)
        time.sleep(0.05)
    driver.execute_script("window.scrollTo(0, 0);")


def _wait_for_content(driver, deadline: float, bottom: int) -> None:
    """Wait for ``document.fonts.ready`` and every image to be complete, twice, a settle apart
    (a script may add images just after the page loaded); TimeoutException past ``deadline``.
    Lazy images starting below ``bottom`` (pixels from the page's top) are not waited for:
    they are not captured, and the browser loads them only when scrolled to."""
    from selenium.common.exceptions import TimeoutException

    script = (
        "const bottom = arguments[0], done = arguments[arguments.length - 1];"
        "const wanted = i => i.loading !== 'lazy' ||"
        " i.getBoundingClientRect().top + window.scrollY < bottom;"
        "document.fonts.ready.then(() => done("
        "Array.from(document.images).filter(i => wanted(i) && !i.complete).length + ':' +"
        " document.images.length));"
    )
    last = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutException("fonts or images")
        driver.set_script_timeout(left)
        state = driver.execute_async_script(script, bottom)
        if state.startswith("0:") and state == last:
            return
        last = state if state.startswith("0:") else None
        time.sleep(SETTLE_SECONDS if last else 0.1)


def _page_height(driver) -> int:
    return int(
        driver.execute_script(
            "return Math.max(document.documentElement.scrollHeight,"
            " document.body ? document.body.scrollHeight : 0);"
        )
    )


def _check_loaded_hosts(driver, guard) -> None:
    """Refuse the page if where it ended (redirects) or any resource it loaded is on a host
    ``guard`` refuses as private (PrivateAddressError); hosts that do not resolve are let be
    (nothing was loaded from them)."""
    urls = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    for url in dict.fromkeys([driver.current_url, *urls]):
        if url.startswith(("http:", "https:")):
            try:
                guard(url)
            except PrivateAddressError:
                raise
            except SalmapError:
                continue


def _screenshot(driver, url: str, viewport: tuple[int, int], full_page: bool) -> Capture:
    import base64
    import io

    from PIL import Image

    w, h = viewport
    height, note = h, None
    if full_page:
        page = _page_height(driver)
        height = max(h, min(page, MAX_PAGE_HEIGHT))
        if page > MAX_PAGE_HEIGHT:
            note = f"the page is {page} px high; captured its first {MAX_PAGE_HEIGHT} px"
    # the first screenful as the visual viewport shows it (a phone zooms out a page made for
    # desktops); the full page clipped to the viewport's width, rendered beyond its height
    params = {"format": "png", "captureBeyondViewport": full_page}
    if full_page:
        params["clip"] = {"x": 0, "y": 0, "width": w, "height": height, "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", params)
    image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return Capture(url, buf.getvalue(), image.width, image.height, viewport, note)


def save_capture(capture: Capture, out: Path) -> None:
    """Write the screenshot to ``out`` atomically."""
    from salmap.files import atomic_write_bytes

    atomic_write_bytes(Path(out), capture.png)


def capture_urls(
    urls: list[str],
    folder: Path,
    viewport: tuple[int, int] = DEFAULT_VIEWPORT,
    full_page: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    existing: str = "refuse",
) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    """Capture each of ``urls`` into ``folder`` as ``<name>_capture.png`` (:func:`page_name`,
    ``-2``, ``-3``... where two URLs give the same name). ``existing``: what to do with a
    capture already there: "refuse" (a SalmapError before anything is loaded), "replace" or
    "keep" (used as it is: resuming a run). Returns the captures by URL and, for URLs that
    failed to load, (URL, why)."""
    names: dict[str, Path] = {}
    for url in dict.fromkeys(urls):
        base, k = page_name(url), 1
        name = base
        while folder / f"{name}{CAPTURE_SUFFIX}" in names.values():
            k += 1
            name = f"{base}-{k}"
        names[url] = folder / f"{name}{CAPTURE_SUFFIX}"
    there = [p for p in names.values() if p.exists()]
    if there and existing == "refuse":
        raise SalmapError(f"{there[0]} exists; pass --overwrite to replace it")
    captured, failed = {}, []
    for url, path in names.items():
        if existing == "keep" and path.exists():
            captured[url] = path
            continue
        try:
            shot = capture(url, viewport, full_page, timeout)
        except SalmapError as e:
            failed.append((url, str(e)))
            continue
        save_capture(shot, path)
        if shot.note:
            print(f"{url}: {shot.note}", file=sys.stderr)
        captured[url] = path
    return captured, failed
