"""Saving and loading models: safetensors weights with the config embedded, plus config.json.

A saved model is a folder holding ``model.safetensors`` (the weights; its metadata carries the
JSON config, so the file alone rebuilds the model) and ``config.json`` (the same config, with
the training recipe, for people to read). An ensemble's metadata also lists its members'
configs and weights (``"ensemble"``), its tensors are the members' under ``members.<k>.``.
Loading never unpickles and never needs the network. Writing the files is
:mod:`salmap.models.saving`'s, below the model classes (they save themselves through it);
loading, here, rebuilds those classes, above them.

The shipped models are named: ``default`` (one backbone, fast) and ``accurate`` (an ensemble),
in ``salmap/weights/NAME.safetensors``, with ``NAME.onnx`` beside it where an export ships.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from salmap.errors import SalmapError
from salmap.models.saving import CONFIG, WEIGHTS, save_model

__all__ = [
    "CONFIG",
    "SHIPPED",
    "WEIGHTS",
    "choose_runner",
    "load_model",
    "model_label",
    "read_config",
    "resolve",
    "save_model",
    "shipped_file",
]

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
SHIPPED = ("default", "accurate")


def shipped_file(name: str, suffix: str = ".safetensors") -> Path:
    """The shipped model ``name``'s weights (or, with ``suffix=".onnx"``, its export)."""
    return WEIGHTS_DIR / f"{name}{suffix}"


DEFAULT_MODEL = shipped_file("default")
# The same model exported by `salmap export --half` (fp16 weights): what predicts by default.
DEFAULT_ONNX = shipped_file("default", ".onnx")
# default's student at a 224 x 224 input, distilled from its maps at 512 (scripts/ship_fast.py,
# benchmarks/distill_fast.py): what crops are searched on by default
FAST_SUFFIX = ".fast.onnx"


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
    """The weights file for a model name or path: a shipped model's name ("default",
    "accurate"), a folder, or a .safetensors file."""
    if str(path) in SHIPPED:
        file = shipped_file(str(path))
        if not file.is_file():
            raise SalmapError(f"the {path} model is missing from this installation ({file})")
        return file
    p = Path(path)
    if p.is_dir():
        p = p / WEIGHTS
    if not p.is_file():
        raise SalmapError(f"{path}: no model there ({missing_model_hint(Path(path))})")
    return p


def missing_model_hint(path: Path) -> str:
    """What to pass instead of ``path``, which holds no model."""
    import difflib

    runs = [path / "models" / k for k in ("final", "best") if (path / "models" / k).is_dir()]
    if runs:
        return f"a training run: its models are {' and '.join(map(str, runs))}"
    near = difflib.get_close_matches(str(path), SHIPPED, n=1)
    if near and not path.exists():
        return f"did you mean the shipped model {near[0]!r}?"
    return (
        f"expected a folder with {WEIGHTS}, a .safetensors or .onnx file, or one of the shipped "
        f"models: {', '.join(SHIPPED)}"
    )


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


def choose_runner(path: str | Path, runner: str | None = None, device: str | None = None) -> str:
    """ "onnx" or "torch" for a model path: an ``.onnx`` file runs on onnxruntime; a shipped
    model whose export ships beside it on onnxruntime when it is installed, else on PyTorch,
    and on PyTorch too when ``device`` is CUDA and onnxruntime has no CUDA provider; any other
    model on PyTorch. Refuses a ``runner`` the model cannot use."""
    from salmap.inference import RUNNERS, onnx_has_cuda, onnxruntime_available

    if runner not in (None, *RUNNERS):
        raise SalmapError(f"unknown runner {runner!r}; expected one of {', '.join(RUNNERS)}")
    # a model that is not there is named here, before any output is planned or written
    if str(path).endswith(".onnx"):
        if not Path(path).is_file():
            raise SalmapError(f"{path}: no such ONNX model")
        if runner == "torch":
            raise SalmapError(f"{path}: an ONNX model runs on onnxruntime only (--runner onnx)")
        return "onnx"
    resolve(path)
    if str(path) in SHIPPED and shipped_file(str(path), ".onnx").is_file():
        if runner is None and (device or "").startswith("cuda") and not onnx_has_cuda():
            return "torch"  # a CPU-only onnxruntime: the GPU asked for is PyTorch's
        return runner or ("onnx" if onnxruntime_available() else "torch")
    if runner == "onnx" and str(path) in SHIPPED:
        raise SalmapError(
            f"the {path} model ships no ONNX export; write one with "
            f"`salmap export --model {path} --half --out {path}.onnx` and pass that file"
        )
    if runner == "onnx":
        raise SalmapError(
            f"{path}: --runner onnx needs an .onnx model; write one with `salmap export`"
        )
    return "torch"


def fast_model(path: str | Path, runner: str | None = None) -> str | Path:
    """The model to run for a fast map: a shipped model's fast export where it ships one (and
    ``runner`` is not "torch"), else ``path`` itself."""
    fast = shipped_file(str(path), FAST_SUFFIX)
    if str(path) in SHIPPED and fast.is_file() and runner != "torch":
        return str(fast)
    return path


def load_model(path: str | Path = "default", device=None, runner: str | None = None):
    """Rebuild a saved model in eval mode: a shipped model's name (``"default"``,
    ``"accurate"``), a model folder, a ``.safetensors`` file, or an ``.onnx`` export (served by
    onnxruntime, no torch needed at inference). ``runner`` ("onnx" or "torch") is chosen by
    :func:`choose_runner` when None."""
    if choose_runner(path, runner) == "onnx":
        from salmap.export import OnnxModel

        return OnnxModel(shipped_file(str(path), ".onnx") if str(path) in SHIPPED else path)
    from safetensors.torch import load_file

    weights = resolve(path)
    meta = read_config(weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random init is fine: the weights come next
        model = _build(meta, weights)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(weights).items()}
    by_name = tuple(f"members.{k}." for k in getattr(model, "shipped", {}))
    try:
        missing, unexpected = model.load_state_dict(state, strict=not by_name)
    except RuntimeError as e:
        raise SalmapError(
            f"{weights}: weights do not match the model its config describes ({e})"
        ) from None
    if unexpected or any(not k.startswith(by_name) for k in missing):
        raise SalmapError(
            f"{weights}: weights do not match the model its config describes "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    model.config.encoder_weights = meta["model"].get("encoder_weights")
    for member, cfg in zip(
        getattr(model, "members", []), meta.get("ensemble", {}).get("members", [])
    ):
        if "shipped" not in cfg:
            member.config.encoder_weights = cfg.get("encoder_weights")
    model.training_recipe = meta.get("training", {})
    model.source = str(weights)
    model.eval()
    if device is not None:
        model.to(device)
    return model


def _build(meta: dict, weights: Path):
    """The (randomly initialised) model a weights file's metadata describes."""
    from salmap.models.config import ModelConfig
    from salmap.models.model import SaliencyModel

    def build(cfg: dict) -> SaliencyModel:
        return SaliencyModel(ModelConfig.from_dict(dict(cfg, encoder_weights=None)))

    if "ensemble" not in meta:
        return build(meta["model"])
    from salmap.models.ensemble import EnsembleModel

    spec = meta["ensemble"]
    members, shipped = [], {}
    try:
        for k, c in enumerate(spec["members"]):
            if "shipped" in c:  # a shipped model by name: its own file holds the weights
                if c["shipped"] not in SHIPPED or shipped_file(c["shipped"]) == weights:
                    raise SalmapError(f"{weights}: member {k} names {c['shipped']!r}, not a model")
                shipped[k] = c["shipped"]
                members.append(load_model(c["shipped"], runner="torch"))
            else:
                members.append(build(c))
        model = EnsembleModel(members, spec.get("weights"), spec.get("flip_average", False))
    except (KeyError, TypeError) as e:
        raise SalmapError(f"{weights}: malformed ensemble description ({e})") from None
    model.shipped = shipped
    return model


def at_input_size(model, size: int | tuple[int, int]):
    """A copy of a SaliencyModel (PyTorch) that takes ``size`` (side, or (H, W)) as its input:
    the same weights; its head's blur and centre bias, defined in fractions of the map, follow
    the new size. A smaller input is faster and sees less detail (measured for cropping in
    benchmarks/fast_crop.py)."""
    import copy

    from salmap.models.model import SaliencyModel

    h, w = (size, size) if isinstance(size, int) else size
    config = copy.deepcopy(model.config)
    config.input_size = (int(h), int(w))
    weights, config.encoder_weights = config.encoder_weights, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random init is fine: the weights come next
        resized = SaliencyModel(config)
    resized.load_state_dict(model.state_dict())
    resized.config.encoder_weights = weights
    resized.training_recipe = getattr(model, "training_recipe", {})
    resized.source = getattr(model, "source", None)
    return resized.eval()
