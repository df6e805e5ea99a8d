"""The HTTP API and the page: one FastAPI app around one loaded model.

Every answer to bad input is a 4xx with the JSON body ``{"error": "<what and why>"}``: 400 an
unreadable image or body, 401 a missing or wrong token, 413 too large (bytes or pixels), 415
not an image, 422 bad parameters. Decoding, resizing and encoding run in worker threads; the
forward passes run batched (:class:`~salmap.serve.batching.Batcher`).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from salmap import __version__
from salmap.capture import DEFAULT_TIMEOUT
from salmap.data.images import NotAnImageError, TooManyPixelsError, decode_image
from salmap.errors import DataError, SalmapError
from salmap.inference import long_page_fold, read_input, restore
from salmap.serve import openapi as doc
from salmap.serve.batching import Batcher
from salmap.serve.cache import PredictionCache
from salmap.serve.pages import PageOptions, add_capture_route
from salmap.serve.uploads import ApiError, Upload, read_multipart
from salmap.viz import (
    DEFAULT_ALPHA,
    DEFAULT_COLORMAP,
    DEFAULT_SCALE,
    FOG_CLEAR,
    FOG_FLOOR,
    MASS_CONTOURS,
    colormap_lut,
)

STATIC = Path(__file__).resolve().parent / "static"
API = "/api/v1"
# Colormaps the page offers (the default first); their tables (salmap.viz.colormap_lut), the
# heat scale and the fog's constants come from /page-settings.json, so the page draws its
# overlays and fog as `salmap predict` writes them.
PAGE_COLORMAPS = (DEFAULT_COLORMAP, "magma", "viridis", "turbo", "jet", "gray")
# Shares of attention for which the summary gives the fraction of the image that holds them.
SUMMARY_MASSES = (0.5, 0.8, 0.95)


def multipart_body(**fields: dict) -> dict:
    """The OpenAPI request body of an endpoint: the ``image`` file and other form ``fields``."""
    properties = {"image": {"type": "string", "format": "binary"}, **fields}
    schema = {"type": "object", "required": ["image"], "properties": properties}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


IMAGE_BODY = multipart_body()
REGIONS_FIELD = {
    "type": "string",
    "description": 'named boxes and polygons as JSON, {"units": "px" or "fraction", '
    '"regions": [{"name": "logo", "box": [x0, y0, x1, y1]}]}, or RxC',
}
REGIONS_BODY = multipart_body(regions=REGIONS_FIELD)
# A report compares variants: the field ``image`` once per variant.
MAX_REPORT_IMAGES = 12
REPORT_BODY = multipart_body(
    regions=REGIONS_FIELD,
    image={
        "type": "array",
        "items": {"type": "string", "format": "binary"},
        "description": f"one image, or several variants to compare (at most {MAX_REPORT_IMAGES})",
    },
)
NO_IMAGE = "no file in the form field 'image' (send it as image=@photo.jpg)"


@dataclass
class ServeSettings:
    max_upload_mb: float = 25.0
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    batch_size: int = 8
    max_wait_ms: float = 5.0
    cache_size: int = 32  # model outputs kept by the upload's content (0: none)
    allow_urls: bool = False  # POST /capture fetches pages (salmap.serve.pages)
    allow_hosts: tuple[str, ...] = ()  # host:port pairs fetched even when private (tests)
    capture_timeout: float = DEFAULT_TIMEOUT


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def density_summary(density: np.ndarray) -> dict:
    """Numbers that describe an H x W density (sums to 1): its peak (pixel x, y: column and
    row), its centre of mass (pixels), its entropy in bits, and the fraction of the image's
    area that holds 50, 80 and 95% of the attention (:func:`salmap.regions.concentration`;
    small = attention concentrated, uniform = the share itself)."""
    from salmap.regions import concentration

    h, w = density.shape
    row, col = np.unravel_index(int(np.argmax(density)), density.shape)
    d = density.astype(np.float64)
    total = d.sum()
    p = d[d > 0] / total
    return {
        "peak": {"x": int(col), "y": int(row), "value": float(density[row, col])},
        "centre_of_mass": {
            "x": float((d.sum(axis=0) * (np.arange(w) + 0.5)).sum() / total),
            "y": float((d.sum(axis=1) * (np.arange(h) + 0.5)).sum() / total),
        },
        "entropy_bits": float(-(p * np.log2(p)).sum()),
        "area_for_attention": {f"{round(m * 100)}%": concentration(d, m) for m in SUMMARY_MASSES},
    }


def encode_map(density: np.ndarray, bits: int) -> bytes:
    """The map PNG of ``salmap predict`` (its :func:`~salmap.viz.map_array`), 8 or 16 bits."""
    from salmap.viz import image_bytes, map_array

    return image_bytes(map_array(density, bits))


def display_map(density: np.ndarray, max_side: int) -> tuple[np.ndarray, int]:
    """The H x W density summed over k x k blocks of pixels, k the smallest whole number that
    brings the longer side to at most ``max_side`` (the last row and column of blocks may be
    narrower). Each value is its block's attention, so a box on block edges (multiples of k)
    holds the same share as on the full map. Returns (ceil(H/k) x ceil(W/k) float32, k)."""
    h, w = density.shape
    k = max(1, -(-max(h, w) // max_side))
    if k == 1:
        return density, 1
    rows = np.add.reduceat(density, np.arange(0, h, k), axis=0, dtype=np.float64)
    return np.add.reduceat(rows, np.arange(0, w, k), axis=1).astype(np.float32), k


def encode_npy(density: np.ndarray) -> bytes:
    """The density's ``.npy`` (float32), as ``salmap predict`` writes it."""
    from salmap.batch.predict import density_bytes

    return density_bytes(density, "density")


class Service:
    """The loaded model and its batcher: image bytes in, density at the image's size out."""

    def __init__(self, model, runner, settings: ServeSettings):
        self.model = model
        self.runner = runner
        self.settings = settings
        self.batcher = Batcher(runner, settings.batch_size, settings.max_wait_ms)
        self.predictions = PredictionCache(settings.cache_size)

    async def density(self, upload: Upload, page=("off", None)) -> tuple[np.ndarray, np.ndarray]:
        """(rgb, density) of the upload's ``image`` file; ``page``: (long_page, viewport) as
        :func:`salmap.inference.read_input` takes them."""
        if "image" not in upload.files:
            raise ApiError(422, NO_IMAGE)
        return await self.density_of(*upload.files["image"], page)

    async def density_of(
        self, name: str, data: bytes, page=("off", None)
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rgb, density) of the image file ``data`` (``name`` in messages), ``page`` as for
        :meth:`density`."""
        key, rgb, x, geometry = await asyncio.to_thread(self._prepare, data, name, page)
        prediction = await self.predictions.get(key, lambda: self._run(x))
        try:
            return rgb, await asyncio.to_thread(restore, prediction, geometry)
        except DataError as e:
            raise ApiError(500, f"the model gave a broken map: {e}") from None

    async def _run(self, x: np.ndarray) -> np.ndarray:
        """The model's output for one input, or for each window of a long page (N x 3 x h x w)."""
        if x.ndim == 3:
            return await self.batcher.run(x)
        return np.stack(await asyncio.gather(*(self.batcher.run(w) for w in x)))

    def _prepare(self, data: bytes, name: str, page):
        try:
            rgb = decode_image(data, name)
        except NotAnImageError as e:
            raise ApiError(415, str(e)) from None
        except TooManyPixelsError as e:
            raise ApiError(413, str(e)) from None
        except DataError as e:
            raise ApiError(400, str(e)) from None
        key = f"{PredictionCache.key(data)}|{page}" if self.predictions.size else ""
        _, x, geometry = read_input(
            rgb, self.runner.config, keep_pixels=False, long_page=page[0], viewport=page[1]
        )
        return key, rgb, x, geometry

    def info(self) -> dict:
        from salmap.models.io import SHIPPED, model_label, shipped_file

        config = self.runner.config
        recipe = getattr(self.model, "training_recipe", {}) or {}
        data = recipe.get("data", {})
        source = Path(getattr(self.model, "source", "") or "")
        shipped = {
            shipped_file(n, suffix).resolve(): n
            for n in SHIPPED
            for suffix in (".safetensors", ".onnx")
        }
        name = shipped.get(source.resolve()) if source.name else None
        return {
            "name": name or model_label(source),
            "runner": "onnxruntime" if hasattr(self.runner, "session") else "torch",
            "input_size": {"height": config.input_size[0], "width": config.input_size[1]},
            "aspect": config.aspect,
            "encoder": config.encoder,
            "decoder": config.decoder,
            "output": config.output,
            "training_data": {"format": data.get("format"), "datasets": dataset_names(data)},
            "licence": "MIT (the weights and their training data)" if name else None,
            "batch_size": self.settings.batch_size,
            "max_upload_mb": self.settings.max_upload_mb,
        }


def dataset_names(data: dict) -> list[str] | None:
    """The training datasets' folder names, never their paths on the machine that trained
    the model (``../shared/datasets/osie`` -> ``osie``)."""
    paths = data.get("path")
    if not paths:
        return None
    paths = paths if isinstance(paths, list) else [paths]
    return [Path(str(p).replace("\\", "/").rstrip("/")).name for p in paths]


def create_app(model, runner=None, settings: ServeSettings | None = None) -> FastAPI:
    """The app serving ``model`` (a SaliencyModel or OnnxModel) through ``runner`` (default:
    :func:`salmap.inference.make_runner`'s)."""
    from salmap.inference import make_runner

    settings = settings or ServeSettings()
    if runner is None:
        runner = make_runner(model)
    service = Service(model, runner, settings)

    @asynccontextmanager
    async def lifespan(app):
        await service.batcher.start()
        yield
        await service.batcher.stop()

    # FastAPIOffline serves /docs (Swagger UI) and /redoc from files in its package: no CDN
    app = FastAPIOffline(
        title="salmap",
        version=__version__,
        description="Saliency maps, crops and attention shares of images. "
        'Errors are JSON: {"error": "<what and why>"}.',
        lifespan=lifespan,
    )
    app.state.service = service
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization"],
            expose_headers=["X-Map-Block", "X-Image-Size"],
        )
    add_error_handlers(app)
    add_routes(app, service)
    return app


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request, e: ApiError):
        return error(e.status, e.message)

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request, e: RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in x['loc'][1:]) or 'request'}: {x['msg']}" for x in e.errors()
        )
        return error(422, f"bad parameters: {problems}")

    @app.exception_handler(Exception)
    async def internal(request, e: Exception):
        # a fault of the server, not of the input: still a JSON answer, never a traceback
        return error(500, f"internal error ({type(e).__name__}); see the server's log")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, e: StarletteHTTPException):
        return error(e.status_code, str(e.detail))


def require_token(settings: ServeSettings):
    # the bearer scheme documents the token in /openapi.json; the check is below
    async def check(request: Request, _: doc.Bearer) -> None:
        if settings.token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            given.encode(), settings.token.encode()
        ):
            raise ApiError(
                401, "missing or wrong token: send the header 'Authorization: Bearer TOKEN'"
            )

    return check


def add_routes(app: FastAPI, service: Service) -> None:
    """Every route: the page and its files, then the API (``/health``, ``/model``,
    ``/saliency``, ``/crop``, ``/attention``, ``/capture``)."""
    settings = service.settings
    auth = [Depends(require_token(settings))]
    max_bytes = int(settings.max_upload_mb * 2**20)
    add_page_routes(app, settings)
    add_saliency_routes(app, service, auth, max_bytes)
    add_crop_routes(app, service, auth, max_bytes)
    add_attention_route(app, service, auth, max_bytes)
    add_picture_routes(app, service, auth, max_bytes)
    add_capture_route(app, settings, auth)


def add_page_routes(app: FastAPI, settings: ServeSettings) -> None:
    """``/``: the page, its static files and its settings (colours, colormaps, whether it
    may capture URLs)."""

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str):
        # only the files shipped beside index.html: no request path reaches the file system
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        if name not in files:
            raise ApiError(404, f"no static file {name!r}")
        return FileResponse(files[name])

    @app.get("/page-settings.json", include_in_schema=False)
    async def page_settings():
        from salmap.cropping import PREVIEW_COLOURS
        from salmap.regions import SHARE_TOLERANCE

        return {
            "colormap": DEFAULT_COLORMAP,
            "alpha": DEFAULT_ALPHA,
            "scale": DEFAULT_SCALE,
            "fog": {"clear": FOG_CLEAR, "floor": FOG_FLOOR},
            "mass_contours": list(MASS_CONTOURS),
            "colormaps": {name: colormap_lut(name).tolist() for name in PAGE_COLORMAPS},
            "crop_colours": [f"rgb{tuple(c)}" for c in PREVIEW_COLOURS],
            "share_tolerance": SHARE_TOLERANCE,
            "urls": settings.allow_urls,
        }


def add_saliency_routes(app: FastAPI, service: Service, auth, max_bytes: int) -> None:
    """``/health``, ``/model`` and ``/saliency``: the server, its model and an image's map."""

    @app.get(f"{API}/health", summary="Is the server up", responses=doc.answer(doc.HEALTH))
    async def health():
        batcher = service.batcher
        return {
            "status": "ok",
            "version": __version__,
            "forward_passes": batcher.forward_passes,
            "images": batcher.images,
        }

    @app.get(
        f"{API}/model",
        summary="The model served",
        dependencies=auth,
        responses=doc.answer(doc.MODEL, 401),
    )
    async def model_info():
        return service.info()

    @app.post(
        f"{API}/saliency",
        summary="The saliency map of an image, at the image's resolution",
        description="`png`: 8-bit grayscale scaled to the map's maximum; `png16`: the same in "
        "16 bits; `npy`: the float32 density (sums to 1); `json`: width, height, the peak and "
        "a summary of the density. A page's screenshot taller than 1.5 `viewport`s is "
        "predicted screenful by screenful, weighted by scroll depth (see the README's 'Long "
        "pages'); its fold (pixels) is then `fold` in the JSON, else the header `X-Fold`. "
        "`max_side` (maps only): the map summed over k x k blocks of "
        "pixels so that its longer side is at most `max_side` (what a page shows), k the "
        "smallest whole number that does; the answer's header `X-Map-Block` gives k and "
        "`X-Image-Size` the image's WxH.",
        dependencies=auth,
        openapi_extra={"requestBody": IMAGE_BODY},
        responses=doc.answer(doc.SALIENCY, *doc.UPLOAD_ERRORS),
    )
    async def saliency(
        request: Request,
        page: PageOptions,
        format: Literal["png", "png16", "npy", "json"] = Query("png"),
        max_side: int | None = Query(None, ge=16, le=65536),
    ):
        if format == "json" and max_side is not None:
            raise ApiError(422, "format=json summarises the full map: leave out max_side")
        rgb, density = await service.density(await read_multipart(request, max_bytes), page)
        return await map_answer(density, format, long_page_fold(density.shape, *page), max_side)


async def map_answer(density: np.ndarray, format: str, fold: int | None, max_side: int | None):
    """``/saliency``'s answer: the map as ``format`` (at most ``max_side`` per side, summed
    in blocks, for maps), with the fold of a long page."""
    headers = {"X-Fold": str(fold)} if fold else {}
    if max_side is not None:
        h, w = density.shape
        density, block = await asyncio.to_thread(display_map, density, max_side)
        headers |= {"X-Map-Block": str(block), "X-Image-Size": f"{w}x{h}"}
    if format == "json":
        summary = await asyncio.to_thread(density_summary, density)
        h, w = density.shape
        return {"width": w, "height": h, **summary, **({"fold": fold} if fold else {})}
    if format == "npy":
        data = await asyncio.to_thread(encode_npy, density)
        return Response(data, media_type="application/octet-stream", headers=headers)
    data = await asyncio.to_thread(encode_map, density, 16 if format == "png16" else 8)
    return Response(data, media_type="image/png", headers=headers)


def add_crop_routes(app: FastAPI, service: Service, auth, max_bytes: int) -> None:
    """``/crop``: the best windows per aspect."""
    from salmap.cropping import DEFAULT_ASPECTS, best_window, check_zoom, parse_aspects

    @app.post(
        f"{API}/crop",
        summary="The crop of each aspect ratio that keeps the most attention",
        description="As a line of `salmap crop`'s crops.jsonl: per aspect ratio the box "
        "`[x0, y0, x1, y1]` in image pixels (x1, y1 exclusive) and the share of attention in it. "
        "`zoom` in (0, 1]: the window's size relative to the largest that fits. "
        "`format=png`: the crop itself as a PNG, for one aspect ratio.",
        dependencies=auth,
        openapi_extra={"requestBody": IMAGE_BODY},
        responses=doc.answer(doc.CROP, *doc.UPLOAD_ERRORS),
    )
    async def crop(
        request: Request,
        page: PageOptions,
        aspect: str = Query(DEFAULT_ASPECTS, examples=["1:1,16:9"]),
        zoom: float = Query(1.0),
        format: Literal["json", "png"] = Query("json"),
    ):
        try:
            aspects = list(dict.fromkeys(parse_aspects(aspect)))
            check_zoom(zoom)
        except SalmapError as e:
            raise ApiError(422, str(e)) from None
        if format == "png" and len(aspects) != 1:
            raise ApiError(422, "format=png gives one crop: pass one aspect, e.g. aspect=16:9")
        upload = await read_multipart(request, max_bytes)
        rgb, density = await service.density(upload, page)
        if format == "png":
            data = await asyncio.to_thread(crop_png, rgb, density, aspects[0], zoom)
            return Response(data, media_type="image/png")

        def windows():
            return {a: best_window(density, a, zoom).to_dict() for a in aspects}

        h, w = density.shape
        crops = await asyncio.to_thread(windows)
        return {"image": upload.files["image"][0], "width": w, "height": h, "crops": crops}


def add_attention_route(app: FastAPI, service: Service, auth, max_bytes: int) -> None:
    @app.post(
        f"{API}/attention",
        summary="The share of attention in each region",
        description="As `salmap attention --json`. `regions` (a form field, or the query): "
        'named boxes and polygons, `{"units": "px", "size": [w, h], "regions": [{"name": '
        '"logo", "box": [x0, y0, x1, y1]}, {"name": "cta", "polygon": [[x, y], [x, y], [x, '
        "y]]}]}` in image pixels (`size`: the image they were drawn on; on another size they "
        'are scaled and `note` says so) or with `"units": "fraction"` in fractions of the '
        'image; the older `{"logo": [x0, y0, x1, y1]}` is read too; or a grid `RxC`.',
        dependencies=auth,
        openapi_extra={"requestBody": REGIONS_BODY},
        responses=doc.answer(doc.ATTENTION, *doc.UPLOAD_ERRORS),
    )
    async def attention(request: Request, page: PageOptions, regions: str | None = Query(None)):
        upload = await read_multipart(request, max_bytes)
        spec = parse_regions(upload.fields.get("regions", regions))
        rgb, density = await service.density(upload, page)
        try:
            shares = await asyncio.to_thread(attention_of, density, spec)
        except SalmapError as e:
            raise ApiError(422, str(e)) from None
        return {"image": upload.files["image"][0], **shares.to_dict()}


def add_picture_routes(app: FastAPI, service: Service, auth, max_bytes: int) -> None:
    """``/overlay`` and ``/fog`` (PNG) and ``/report`` (HTML), as ``salmap predict`` and
    ``salmap design-report`` make them."""

    @app.post(
        f"{API}/overlay",
        summary="The heatmap over the image (PNG), with its legend below",
        description="As `salmap predict --save overlay`: `alpha` the heatmap's opacity (0-1), "
        "`colormap` a matplotlib name, `scale` `mass` (share of attention) or `peak`, "
        "`legend` a band below that says what the colours mean. Transparency shows over white.",
        dependencies=auth,
        openapi_extra={"requestBody": IMAGE_BODY},
    )
    async def overlay_png(
        request: Request,
        alpha: float = Query(DEFAULT_ALPHA, ge=0, le=1),
        colormap: str = Query(DEFAULT_COLORMAP, examples=["inferno", "viridis"]),
        scale: Literal["mass", "peak"] = Query(DEFAULT_SCALE),
        legend: bool = Query(True),
    ):
        try:
            colormap_lut(colormap)
        except SalmapError as e:
            raise ApiError(422, str(e)) from None
        rgb, density = await service.density(await read_multipart(request, max_bytes))
        data = await asyncio.to_thread(
            overlay_png_bytes, rgb, density, alpha, colormap, scale, legend
        )
        return Response(data, media_type="image/png")

    @app.post(
        f"{API}/fog",
        summary="The fog view (PNG): the image dimmed where attention is low",
        description=f"The part holding {FOG_CLEAR:.0%} of the attention stays clear; the rest "
        f"fades down to {FOG_FLOOR:.0%} of its brightness where attention is lowest.",
        dependencies=auth,
        openapi_extra={"requestBody": IMAGE_BODY},
    )
    async def fog_png(request: Request):
        from salmap.viz import fog, image_bytes

        rgb, density = await service.density(await read_multipart(request, max_bytes))
        data = await asyncio.to_thread(lambda: image_bytes(fog(rgb, density)))
        return Response(data, media_type="image/png")

    add_report_route(app, service, auth, max_bytes)


def add_report_route(app: FastAPI, service: Service, auth, max_bytes: int) -> None:
    @app.post(
        f"{API}/report",
        summary="A self-contained HTML report on the images, as salmap design-report writes it",
        description="Heatmap with its legend, fog view, regions, crops and the focus figure "
        "among reference designs, in one HTML file (images embedded). Several `image` fields "
        f"(variants, at most {MAX_REPORT_IMAGES}) are compared in a table first. `regions` "
        "(optional, a form field or the query) as for `/attention`, put on every image; "
        "without it, a 3x3 grid.",
        dependencies=auth,
        openapi_extra={"requestBody": REPORT_BODY},
        response_class=Response,
    )
    async def report(request: Request, regions: str | None = Query(None)):
        from salmap.design_report import Design, report_html

        upload = await read_multipart(request, max_bytes)
        files = upload.files_in("image")
        if len(files) > MAX_REPORT_IMAGES:
            raise ApiError(422, f"{len(files)} images: a report takes {MAX_REPORT_IMAGES} at most")
        text = upload.fields.get("regions", regions)
        spec = None if text is None or not text.strip() else parse_regions(text)
        if isinstance(spec, tuple):
            spec = "grid {}x{}".format(*spec)  # never a path: see parse_regions
        if not files:
            raise ApiError(422, NO_IMAGE)
        maps = await asyncio.gather(*(service.density_of(n, d) for n, d in files))
        designs = [Design(name, rgb, d) for (name, _), (rgb, d) in zip(files, maps)]
        try:
            page = await asyncio.to_thread(report_html, designs, spec, service.info()["name"])
        except SalmapError as e:
            raise ApiError(422, str(e)) from None
        stem = Path(files[0][0]).stem or "image"
        filename = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:80]
        filename += "_report.html" if len(files) == 1 else "_variants_report.html"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)


def overlay_png_bytes(rgb, density, alpha: float, colormap: str, scale: str, legend: bool) -> bytes:
    from salmap.viz import image_bytes, overlay, with_legend

    picture = overlay(rgb, density, alpha, colormap, scale)
    return image_bytes(with_legend(picture, scale, colormap) if legend else picture)


def crop_png(rgb: np.ndarray, density: np.ndarray, aspect: str, zoom: float) -> bytes:
    """The best ``aspect`` window of the image, cut out, as PNG."""
    from salmap.cropping import best_window
    from salmap.viz import image_bytes

    x0, y0, x1, y1 = best_window(density, aspect, zoom).box
    return image_bytes(np.ascontiguousarray(rgb[y0:y1, x0:x1]))


EXAMPLE_REGIONS = '{"units": "px", "regions": [{"name": "logo", "box": [x0, y0, x1, y1]}]}'


def parse_regions(text: str | None):
    """The ``regions`` parameter: a dict of named boxes/polygons, or (rows, columns) of a grid.
    Never a path: no request parameter reaches the file system."""
    from salmap.regions import parse_grid

    if text is None or not text.strip():
        raise ApiError(422, f"no regions: send {EXAMPLE_REGIONS} or RxC in the field 'regions'")
    try:
        spec = json.loads(text)
    except ValueError:
        try:
            return parse_grid(text)
        except SalmapError:
            raise ApiError(
                422, f"regions {text[:80]!r} is neither a JSON object of named regions nor RxC"
            ) from None
    if not isinstance(spec, dict) or not spec:
        raise ApiError(422, f"regions must be a JSON object: {EXAMPLE_REGIONS}")
    return spec


def attention_of(density: np.ndarray, spec):
    from salmap.regions import attention_shares, grid_regions

    if isinstance(spec, tuple):
        spec = grid_regions(*spec, density.shape)
    return attention_shares(density, spec)
