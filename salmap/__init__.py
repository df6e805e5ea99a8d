"""salmap: train, evaluate and serve neural models of human visual saliency."""

from salmap.errors import DataError, SalmapError

__version__ = "0.1.0"

__all__ = ["DataError", "SalmapError", "__version__", "load_model"]


def load_model(path="default", device=None, runner=None):
    """Load a saved saliency model: ``"default"``, a folder, a ``.safetensors`` or ``.onnx`` file.

    ``runner`` is "onnx" (onnxruntime, no torch needed) or "torch"; by default the shipped
    model runs on onnxruntime when it is installed. Imported lazily so that ``import salmap``
    stays light for data-only use.
    """
    from salmap.models.io import load_model as _load

    return _load(path, device=device, runner=runner)
