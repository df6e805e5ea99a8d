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


def new_output(path: str, overwrite: bool):
    """``path`` as a Path, refused when it exists and ``overwrite`` was not given."""
    from pathlib import Path

    from salmap.errors import SalmapError

    out = Path(path)
    if out.exists() and not overwrite:
        raise SalmapError(f"{out} exists; pass --overwrite to replace it")
    return out
