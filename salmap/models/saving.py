"""Writing a model's files: ``model.safetensors`` (the weights, with the JSON config in its
metadata, so that the file alone rebuilds the model) and ``config.json`` (the same config, with
the training recipe, for people to read). Below the model classes, which save themselves
through :func:`save_model`; :mod:`salmap.models.io` reads the files back, above them."""

from __future__ import annotations

import json
from pathlib import Path

from salmap.files import atomic_write_bytes

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def save_model(model, path: str | Path, training: dict | None = None, half: bool = False) -> Path:
    """Save ``model`` into folder ``path`` (created); ``half`` stores float weights as fp16."""
    from safetensors.torch import save

    path = Path(path)
    meta = {"format": "salmap", "model": model.config.to_dict(), "training": training or {}}
    skip: tuple[str, ...] = ()
    if hasattr(model, "description"):  # an ensemble; members that are shipped go by name
        meta["ensemble"] = model.description()
        skip = tuple(f"members.{k}." for k in getattr(model, "shipped", {}))
    state = {}
    for k, v in model.state_dict().items():
        if skip and k.startswith(skip):
            continue
        v = v.detach().cpu()
        state[k] = (v.half() if half and v.is_floating_point() else v).contiguous()
    blob = save(state, metadata={"salmap": json.dumps(meta)})
    atomic_write_bytes(path / WEIGHTS, blob)
    atomic_write_bytes(path / CONFIG, (json.dumps(meta, indent=2) + "\n").encode())
    return path
