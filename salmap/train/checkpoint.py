"""Resumable training state, written atomically so a crash never leaves a broken checkpoint.

``last.pt`` holds the model, optimiser, scheduler, epoch, best validation loss and RNG states as
tensors and plain Python values only, so it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from salmap.errors import SalmapError
from salmap.files import atomic_write_bytes


def save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise SalmapError(f"{path}: no checkpoint to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file
        raise SalmapError(f"{path}: not a readable salmap checkpoint ({e})") from None


def rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
        "python": _to_tensorable(random.getstate()),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(_from_tensorable(state["python"]))


def _to_tensorable(x):
    return [_to_tensorable(v) for v in x] if isinstance(x, tuple) else x


def _from_tensorable(x):
    return tuple(_from_tensorable(v) for v in x) if isinstance(x, list) else x
