"""salmap: train, evaluate and serve neural models of human visual saliency."""

from salmap.errors import DataError, SalmapError

__version__ = "0.1.0"

__all__ = ["DataError", "SalmapError", "__version__", "load_model"]


def load_model(path="default", device=None):
    """Load a saved saliency model (a folder or ``.safetensors`` file, or ``"default"``).

    Imported lazily so that ``import salmap`` stays light for data-only use.
    """
    from salmap.models.io import load_model as _load

    return _load(path, device=device)
