"""Saving and loading models: safetensors weights with the config embedded, plus config.json.

A saved model is a folder holding ``model.safetensors`` (the weights; its metadata carries the
JSON config, so the file alone rebuilds the model) and ``config.json`` (the same config, with
the training recipe, for people to read). Loading never unpickles and never needs the network.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from salmap.errors import SalmapError
from salmap.files import atomic_write_bytes

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "weights" / "default.safetensors"
# The same model exported by `salmap export --half` (fp16 weights): what predicts by default.
DEFAULT_ONNX = DEFAULT_MODEL.with_suffix(".onnx")


def save_model(model, path: str | Path, training: dict | None = None, half: bool = False) -> Path:
    """Save ``model`` into folder ``path`` (created); ``half`` stores float weights as fp16."""
    from safetensors.torch import save

    path = Path(path)
    meta = {"format": "salmap", "model": model.config.to_dict(), "training": training or {}}
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        state[k] = (v.half() if half and v.is_floating_point() else v).contiguous()
    blob = save(state, metadata={"salmap": json.dumps(meta)})
    atomic_write_bytes(path / WEIGHTS, blob)
    atomic_write_bytes(path / CONFIG, (json.dumps(meta, indent=2) + "\n").encode())
    return path


def read_config(path: str | Path) -> dict:
    """The salmap metadata ({"model": ..., "training": ...}) of a weights file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 - safetensors raises several error types
        raise SalmapError(f"{path}: not a readable safetensors file ({e})") from None
    if "salmap" not in meta:
        raise SalmapError(
            f"{path}: safetensors file without salmap's config; was it saved by salmap?"
        )
    return json.loads(meta["salmap"])


def resolve(path: str | Path) -> Path:
    """The weights file for a model name or path: "default", a folder, or a .safetensors file."""
    if str(path) == "default":
        if not DEFAULT_MODEL.is_file():
            raise SalmapError(
                f"the default model is missing from this installation ({DEFAULT_MODEL})"
            )
        return DEFAULT_MODEL
    p = Path(path)
    if p.is_dir():
        p = p / WEIGHTS
    if not p.is_file():
        raise SalmapError(
            f"{path}: no model there (expected a folder with {WEIGHTS}, a .safetensors or .onnx file, or 'default')"
        )
    return p


def model_label(path: str | Path) -> str:
    """A short name for a model path in tables and figures: ``run/best`` for a run's model
    folder (``run/models/best``), the file stem for a weights or ONNX file, else the name."""
    p = Path(path)
    if p.name == WEIGHTS:
        p = p.parent
    if p.suffix in (".safetensors", ".onnx"):
        return p.stem
    if p.parent.name == "models" and p.parent.parent.name:
        return f"{p.parent.parent.name}/{p.name}"
    return p.name or str(path)


def choose_runner(path: str | Path, runner: str | None = None) -> str:
    """ "onnx" or "torch" for a model path: an ``.onnx`` file runs on onnxruntime; the default
    model on onnxruntime when it is installed (its export ships beside it), else on PyTorch;
    any other model on PyTorch. Refuses a ``runner`` the model cannot use."""
    from salmap.inference import RUNNERS, onnxruntime_available

    if runner not in (None, *RUNNERS):
        raise SalmapError(f"unknown runner {runner!r}; expected one of {', '.join(RUNNERS)}")
    if str(path).endswith(".onnx"):
        if runner == "torch":
            raise SalmapError(f"{path}: an ONNX model runs on onnxruntime only (--runner onnx)")
        return "onnx"
    if str(path) == "default":
        return runner or ("onnx" if onnxruntime_available() else "torch")
    if runner == "onnx":
        raise SalmapError(
            f"{path}: --runner onnx needs an .onnx model; write one with `salmap export`"
        )
    return "torch"


def load_model(path: str | Path = "default", device=None, runner: str | None = None):
    """Rebuild a saved model in eval mode: ``"default"``, a model folder, a ``.safetensors``
    file, or an ``.onnx`` export (served by onnxruntime, no torch needed at inference).
    ``runner`` ("onnx" or "torch") is chosen by :func:`choose_runner` when None."""
    if choose_runner(path, runner) == "onnx":
        from salmap.export import OnnxModel

        if str(path) == "default" and not DEFAULT_ONNX.is_file():
            raise SalmapError(
                f"the default ONNX model is missing from this installation ({DEFAULT_ONNX})"
            )
        return OnnxModel(DEFAULT_ONNX if str(path) == "default" else path)
    from safetensors.torch import load_file

    from salmap.models.config import ModelConfig
    from salmap.models.model import SaliencyModel

    weights = resolve(path)
    meta = read_config(weights)
    config = ModelConfig.from_dict(dict(meta["model"], encoder_weights=None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random init is fine: the weights come next
        model = SaliencyModel(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(weights).items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise SalmapError(
            f"{weights}: weights do not match the model its config describes ({e})"
        ) from None
    model.config.encoder_weights = meta["model"].get("encoder_weights")
    model.training_recipe = meta.get("training", {})
    model.source = str(weights)
    model.eval()
    if device is not None:
        model.to(device)
    return model
