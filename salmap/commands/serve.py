"""``salmap serve``: the web page and the HTTP API (``/api/v1/...``, documented at ``/docs``).

The model is loaded once; concurrent requests are batched into one forward pass. Binds
127.0.0.1 unless told otherwise; uploads stay in memory.
"""

from __future__ import annotations

import sys

from salmap.commands import add_model_arguments
from salmap.errors import SalmapError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "serve", help="web page and HTTP API for maps, crops and attention", description=__doc__
    )
    add_model_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--max-upload-mb", type=float, default=25.0, help="largest upload accepted (default: 25)"
    )
    p.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' on the API")
    p.add_argument(
        "--cors",
        default="",
        help="comma-separated origins allowed to call the API from other pages (default: none)",
    )
    p.add_argument("--batch-size", type=int, default=8, help="most requests per forward pass")
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=5.0,
        help="how long a request waits for others to share its forward pass (default: 5)",
    )
    p.add_argument(
        "--cache",
        type=int,
        default=32,
        metavar="N",
        help="keep the model's outputs for the N images last asked about, so that asking for "
        "an image's map and then its crops costs one forward pass (default: 32, about 1 MB "
        "each; 0: off)",
    )
    p.add_argument(
        "--allow-urls",
        action="store_true",
        help="let the page and POST /api/v1/capture screenshot web pages (headless Chromium); "
        "never private, loopback or link-local addresses (default: off)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="with --allow-urls, fetch this host and port even if private (e.g. a test page on "
        "127.0.0.1:8080); repeat for more",
    )
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda or cuda:N (default: CUDA when the runner has it: PyTorch with CUDA, or "
        "onnxruntime-gpu)",
    )
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        import uvicorn

        from salmap.serve.app import ServeSettings, create_app
    except ImportError as e:
        raise SalmapError(
            f"salmap serve needs its extra: pip install 'salmap[serve]' ({e})"
        ) from None
    from salmap import load_model
    from salmap.inference import check_device, make_runner
    from salmap.models.io import choose_runner

    if not 0 < args.port < 65536:
        raise SalmapError(f"--port {args.port} is not a port number (1-65535)")
    if args.max_upload_mb <= 0 or args.batch_size < 1 or args.max_wait_ms < 0 or args.cache < 0:
        raise SalmapError(
            "--max-upload-mb and --batch-size must be positive, --max-wait-ms and --cache >= 0"
        )
    if args.host not in LOOPBACK and not args.token:
        print(
            f"salmap serve: warning: binding {args.host} without --token lets anyone who can "
            "reach this address use the API",
            file=sys.stderr,
        )
    check_url_options(args)
    args.runner = choose_runner(args.model, args.runner, args.device)
    check_device(args.device, args.runner)
    model = load_model(args.model, runner=args.runner)
    runner = make_runner(model, args.device)
    settings = ServeSettings(
        max_upload_mb=args.max_upload_mb,
        token=args.token,
        cors_origins=tuple(o.strip() for o in args.cors.split(",") if o.strip()),
        batch_size=args.batch_size,
        max_wait_ms=args.max_wait_ms,
        cache_size=args.cache,
        allow_urls=args.allow_urls,
        allow_hosts=tuple(args.allow_host),
    )
    app = create_app(model, runner, settings)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"salmap serve: http://{host}:{args.port}/  (API docs at /docs; Ctrl-C stops)", flush=True
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def check_url_options(args) -> None:
    """--allow-host needs --allow-urls and HOST:PORT; --allow-urls needs Chromium here."""
    import re

    if args.allow_host and not args.allow_urls:
        raise SalmapError("--allow-host applies with --allow-urls")
    for host in args.allow_host:
        if not re.fullmatch(r"[A-Za-z0-9.\-]+:\d{1,5}", host):
            raise SalmapError(f"--allow-host {host!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    if args.allow_urls:
        from salmap.capture import find_browser

        find_browser()
