"""The ``salmap`` command: one entry point, a subcommand per job.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args)``;
errors meant for the user (:class:`~salmap.errors.SalmapError`) end the command with their
message and exit status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from salmap import __version__
from salmap.errors import SalmapError

# Packages of the ``train`` extra: a command that imports one of them without it installed
# is told how to install it rather than shown a traceback.
TRAIN_EXTRA = frozenset(
    {"torch", "torchvision", "timm", "torchmetrics", "tensorboard", "safetensors", "onnx"}
)

COMMANDS = {
    "datasets": "salmap.commands.datasets",
    "evaluate": "salmap.commands.evaluate",
    "train": "salmap.commands.train",
    "predict": "salmap.commands.predict",
    "export": "salmap.commands.export",
    "ensemble": "salmap.commands.ensemble",
    "compare": "salmap.commands.compare",
    "crop": "salmap.commands.crop",
    "attention": "salmap.commands.attention",
    "capture": "salmap.commands.capture",
    "serve": "salmap.commands.serve",
    "report": "salmap.commands.report",
    "design-report": "salmap.commands.design_report",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of the command ``only`` alone: a command imports its
    own module only, not the thirteen others (about half a second of start-up)."""
    parser = argparse.ArgumentParser(
        prog="salmap", description="Predict, train and evaluate human visual saliency models."
    )
    parser.add_argument("--version", action="version", version=f"salmap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        if only in (None, name):
            importlib.import_module(module).add_parser(sub)
    for command in sub.choices.values():
        plain_text(command)
    return parser


def plain_text(parser: argparse.ArgumentParser) -> None:
    """Help texts as a terminal shows them: docstrings' RST ``literals`` lose their backticks."""
    if parser.description:
        parser.description = parser.description.replace("``", "")
    for action in parser._actions:
        if action.help:
            action.help = action.help.replace("``", "")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # the command is the first word (salmap has no options before it but --help and --version)
    only = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only).parse_args(argv)
    args.argv = argv  # provenance of results
    try:
        return int(args.run(args) or 0)
    except SalmapError as e:
        print(f"salmap {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] not in TRAIN_EXTRA:
            raise
        print(
            f"salmap {args.command}: error: this needs {e.name}, which is not installed; "
            "install the training extra: pip install 'salmap[train]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"salmap {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`salmap attention ... | head`): no traceback; stdout is
        # pointed at /dev/null so that Python's flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
