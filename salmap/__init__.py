"""salmap: train, evaluate and serve neural models of human visual saliency."""

from salmap.errors import DataError, SalmapError

__version__ = "0.1.0"

__all__ = ["DataError", "SalmapError", "__version__", "load_model"]

# Submodules reachable as attributes (``salmap.metrics``) without importing them, and torch with
# them, at ``import salmap``.
SUBMODULES = ("baselines", "data", "evaluate", "losses", "metrics", "models", "paired", "viz")


def __getattr__(name: str):
    if name in SUBMODULES:
        import importlib

        return importlib.import_module(f"salmap.{name}")
    raise AttributeError(f"module 'salmap' has no attribute {name!r}")


def load_model(path="default", device=None):
    """Load a saved saliency model (a folder or ``.safetensors`` file, or ``"default"``).

    Imported lazily so that ``import salmap`` stays light for data-only use.
    """
    from salmap.models.io import load_model as _load

    return _load(path, device=device)
