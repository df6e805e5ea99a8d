"""Live pages in ``salmap serve``: ``POST /api/v1/capture`` (a URL's screenshot, only when the
server was started with ``--allow-urls``) and the ``viewport`` and ``long_page`` parameters
with which the map of a page's screenshot is predicted screenful by screenful.

A server that fetches URLs for its callers could be made to reach what only it can reach: its
own loopback, the private network, a cloud's metadata address. So URLs are refused unless
``--allow-urls`` was given, and then every host the page loads from must resolve to public
addresses only (:func:`salmap.capture.public_address`), except the ``host:port`` pairs given
to ``--allow-host`` (for tests against a page on 127.0.0.1). Redirects and the page's images
and scripts are checked after loading: a page that reached a refused address is not returned
(its screenshot could show what it fetched). The browser has by then sent those requests: a
page can still make it send requests to private addresses that no one sees the answer of;
stopping those needs a filtering proxy in front of the browser (not done).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from salmap.errors import SalmapError
from salmap.serve.openapi import errors
from salmap.serve.uploads import ApiError

# Chromium instances capturing at once: each takes a few hundred MB.
MAX_CAPTURES = 2


class CaptureRequest(BaseModel):
    url: str = Field(description="an http:// or https:// URL", examples=["https://example.com/"])
    viewport: str = Field("1440x900", description="WIDTHxHEIGHT in CSS pixels")
    full_page: bool = Field(False, description="the whole page, not only the first screenful")


def page_options(
    viewport: str | None = Query(
        None,
        description="the viewport (WIDTHxHEIGHT) the image is a screenshot of; with it, an "
        "image taller than 1.5 viewports is predicted as a long page",
        examples=["1440x900"],
    ),
    long_page: Literal["auto", "on", "off"] = Query(
        "auto", description="predict screenful by screenful (auto: as explained for viewport)"
    ),
) -> tuple[str, tuple[int, int] | None]:
    """The query parameters of a page's screenshot: (long_page, viewport)."""
    from salmap.capture import parse_viewport

    try:
        return long_page, parse_viewport(viewport) if viewport else None
    except SalmapError as e:
        raise ApiError(422, str(e).replace("--viewport", "viewport")) from None


PageOptions = Annotated[tuple, Depends(page_options)]


def add_capture_route(app: FastAPI, settings, auth) -> None:
    """``POST /api/v1/capture``: a page's screenshot as PNG, or 403 unless --allow-urls."""
    from salmap.capture import (
        PrivateAddressError,
        capture,
        check_url,
        parse_viewport,
        public_address,
    )

    guard = partial(public_address, allowed=frozenset(settings.allow_hosts))
    slots = asyncio.Semaphore(MAX_CAPTURES)

    @app.post(
        "/api/v1/capture",
        summary="A screenshot of a web page (servers started with --allow-urls)",
        description="The page at `url` rendered by headless Chromium at `viewport`, once its "
        "fonts and images have loaded: a PNG, its viewport in the header `X-Viewport`. Send it "
        "to `/saliency` with `viewport` to predict a long page screenful by screenful. 403: "
        "the server does not fetch URLs, or the host resolves to a private, loopback or "
        "link-local address; 422: not an http(s) URL; 502: the page failed to load or took "
        "too long.",
        dependencies=auth,
        responses={200: {"content": {"image/png": {}}}, **errors(401, 403, 422, 502)},
    )
    async def capture_page(request: CaptureRequest):
        if not settings.allow_urls:
            raise ApiError(403, "this server does not fetch URLs (start it with --allow-urls)")
        try:
            check_url(request.url)
            viewport = parse_viewport(request.viewport)
        except SalmapError as e:
            raise ApiError(422, str(e).replace("--viewport", "viewport")) from None
        try:
            await asyncio.to_thread(guard, request.url)
        except SalmapError as e:
            raise ApiError(403, str(e)) from None
        async with slots:
            try:
                shot = await asyncio.to_thread(
                    capture,
                    request.url,
                    viewport,
                    request.full_page,
                    settings.capture_timeout,
                    guard,
                )
            except SalmapError as e:
                raise ApiError(403 if isinstance(e, PrivateAddressError) else 502, str(e)) from None
        headers = {"X-Viewport": f"{viewport[0]}x{viewport[1]}"}
        if shot.note:
            headers["X-Note"] = shot.note
        return Response(shot.png, media_type="image/png", headers=headers)
