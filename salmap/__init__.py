"""salmap: train, evaluate and serve neural models of human visual saliency."""

from salmap.errors import DataError, SalmapError

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "SalmapError",
    "__version__",
    "attention",
    "attention_shares",
    "best_window",
    "crop",
    "load_model",
]

# Imported on first use so that ``import salmap`` stays light for data-only use.
_LAZY = {
    "crop": "salmap.cropping",
    "best_window": "salmap.cropping",
    "attention": "salmap.regions",
    "attention_shares": "salmap.regions",
}

# Submodules reachable as attributes (``salmap.metrics``) without importing them, and torch with
# them, at ``import salmap``.
SUBMODULES = (
    "baselines",
    "cropping",
    "data",
    "evaluate",
    "losses",
    "metrics",
    "models",
    "paired",
    "regions",
    "viz",
)


def load_model(path="default", device=None, runner=None):
    """Load a saved saliency model: a shipped model (``"default"``: one backbone, fast;
    ``"accurate"``: an ensemble of three), a folder, a ``.safetensors`` or ``.onnx`` file.

    ``runner`` is "onnx" (onnxruntime, no torch needed) or "torch"; by default the shipped
    ``default`` runs on onnxruntime when it is installed, ``accurate`` on PyTorch. Imported
    lazily so that ``import salmap`` stays light for data-only use.
    """
    from salmap.models.io import load_model as _load

    return _load(path, device=device, runner=runner)


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in SUBMODULES:
        return importlib.import_module(f"salmap.{name}")
    raise AttributeError(f"module 'salmap' has no attribute {name!r}")
