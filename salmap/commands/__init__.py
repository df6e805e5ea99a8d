"""The ``salmap`` subcommands, one module each."""


def add_model_arguments(p, runner: bool = True) -> None:
    """``--model`` (and ``--runner``) as every command that runs a model takes them."""
    p.add_argument(
        "--model",
        default="default",
        help="a shipped model ('default', fast; 'accurate', an ensemble), a model folder, "
        ".safetensors or .onnx",
    )
    if runner:
        from salmap.inference import RUNNERS

        p.add_argument(
            "--runner",
            choices=RUNNERS,
            default=None,
            help="onnxruntime or PyTorch (default: onnx for .onnx files and for a shipped model whose "
            "export ships, when onnxruntime is installed; torch for other models)",
        )


def save_kinds(text: str, allowed: tuple[str, ...], at_least_one: bool = True) -> list[str]:
    """The outputs ``--save`` names (comma-separated), each one of ``allowed``."""
    from salmap.errors import SalmapError

    kinds = [k.strip() for k in text.split(",") if k.strip()]
    if any(k not in allowed for k in kinds) or (at_least_one and not kinds):
        raise SalmapError(f"--save takes {', '.join(allowed)}; got {text!r}")
    return kinds


def check_alpha(alpha: float | None) -> None:
    """``--alpha``: a heatmap's opacity, 0-1 (None: the default)."""
    from salmap.errors import SalmapError

    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise SalmapError("--alpha must be between 0 and 1")


def new_output(path: str, overwrite: bool):
    """``path`` as a Path, refused when it exists and ``overwrite`` was not given."""
    from pathlib import Path

    from salmap.errors import SalmapError

    out = Path(path)
    if out.exists() and not overwrite:
        raise SalmapError(f"{out} exists; pass --overwrite to replace it")
    return out


def add_engine_arguments(p) -> None:
    """The engine flags shared by ``salmap predict`` and ``salmap crop``."""
    from salmap.batch.ray import ENGINES

    g = p.add_argument_group("engine (Ray: see 'Scale out' in the README)")
    g.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: this process; ray: a Ray cluster (a local one is started when none is given)",
    )
    g.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join: 'auto' (the one `ray start` made on this node) or ray://HOST:PORT",
    )
    g.add_argument("--actors", type=int, default=None, help="model actors (default: 1)")
    g.add_argument(
        "--gpus-per-actor",
        type=float,
        default=None,
        help="GPUs per actor, e.g. 1 or 0.5 (default: 0)",
    )


def check_engine_arguments(args) -> None:
    """Refuse Ray-only flags with the local engine and impossible values, before any work."""
    from salmap.errors import SalmapError

    ray_only = [
        f"--{name.replace('_', '-')}"
        for name in ("address", "actors", "gpus_per_actor")
        if getattr(args, name) is not None
    ]
    if args.engine == "local" and ray_only:
        raise SalmapError(f"{', '.join(ray_only)} only apply with --engine ray")
    if args.engine == "local" and "://" in args.out:
        raise SalmapError(f"--out {args.out}: a URI needs --engine ray; give a folder otherwise")
    if args.actors is not None and args.actors < 1:
        raise SalmapError(f"--actors must be at least 1, got {args.actors}")
    if args.gpus_per_actor is not None and args.gpus_per_actor < 0:
        raise SalmapError(f"--gpus-per-actor cannot be negative, got {args.gpus_per_actor}")
    if args.batch_size < 1:
        raise SalmapError(f"--batch-size must be at least 1, got {args.batch_size}")


def add_page_arguments(p, long_page: bool = True) -> None:
    """How pages given by URL are captured (and long pages predicted): ``--viewport``,
    ``--full-page``, ``--timeout`` and ``--long-page``."""
    from salmap.capture import DEFAULT_TIMEOUT, DEFAULT_VIEWPORT, MAX_PAGE_HEIGHT

    g = p.add_argument_group("pages by URL (headless Chromium: pip install 'salmap[capture]')")
    g.add_argument(
        "--viewport",
        default=None,
        metavar="WxH",
        help="browser viewport in CSS pixels, e.g. 1440x900 (desktop) or 390x844 (phone) "
        "(default: {}x{}); for image files, the screen they were taken on".format(
            *DEFAULT_VIEWPORT
        ),
    )
    g.add_argument(
        "--full-page",
        action="store_true",
        help=f"capture the whole page, not only the first screenful (at most {MAX_PAGE_HEIGHT} px)",
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds for a page, its fonts and images to load (default: {DEFAULT_TIMEOUT:g})",
    )
    if long_page:
        from salmap.inference import LONG_PAGE_MODES, LONG_PAGE_RATIO

        g.add_argument(
            "--long-page",
            choices=LONG_PAGE_MODES,
            default="auto",
            help="predict a page screenful by screenful, weighted by how far down viewers "
            "scroll (see 'Long pages' in the README); auto (default): for pages taller than "
            f"{LONG_PAGE_RATIO:g} viewports, captured ones or image files given --viewport",
        )


def check_page_arguments(args, inputs: list[str]) -> list[str]:
    """Check the page options and the URLs among ``inputs`` (http(s) only) before any work;
    sets ``args.viewport_size`` ((width, height), or None when --viewport was not given).
    Returns the URLs."""
    from salmap.capture import check_url, is_url, parse_viewport
    from salmap.errors import SalmapError

    args.viewport_size = parse_viewport(args.viewport) if args.viewport else None
    if args.timeout <= 0:
        raise SalmapError(f"--timeout must be positive; got {args.timeout:g}")
    urls = [check_url(i) for i in inputs if is_url(i)]
    if args.full_page and not urls:
        raise SalmapError("--full-page applies to pages given by URL; no input is a URL")
    return urls
