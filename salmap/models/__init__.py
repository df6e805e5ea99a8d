"""Saliency models: encoders (registry), decoders, the head, the model and its save/load.

Names are imported lazily so that ``salmap.models.config`` (and ONNX serving) needs no torch.
"""

import importlib

_EXPORTS = {
    "DECODERS": "decoders",
    "create_decoder": "decoders",
    "ENCODERS": "encoders",
    "create_encoder": "encoders",
    "list_encoders": "encoders",
    "load_model": "io",
    "save_model": "io",
    "ModelConfig": "config",
    "SaliencyModel": "model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"salmap.models.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'salmap.models' has no attribute {name!r}")
