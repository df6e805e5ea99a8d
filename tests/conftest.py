import os
from pathlib import Path

import pytest

from salmap.data import NUS_MINI

REPO = Path(__file__).resolve().parents[1]


def _shared_copy(name: str, folder: str, marker: str, env: str) -> Path:
    """A data set's copy beside the repository (../shared/datasets/<folder>, or the folder in
    ``env``), skipped where ``marker`` is not in it."""
    root = Path(os.environ.get(env, REPO.parent / "shared" / "datasets" / folder))
    if not (root / marker).is_file():
        pytest.skip(f"{name} not found at {root} (set {env} to point at a copy)")
    return root


@pytest.fixture(scope="session")
def nus_scene() -> Path:
    return _shared_copy("NUS-Scene", "nus-scene", "tidy/fixations.mat", "SALMAP_NUS_SCENE")


@pytest.fixture(scope="session")
def osie() -> Path:
    return _shared_copy("OSIE", "osie", "eye/fixations.mat", "SALMAP_OSIE")


@pytest.fixture(scope="session")
def eyecrowd() -> Path:
    return _shared_copy("EyeCrowd", "eyecrowd", "eye/fixations.mat", "SALMAP_EYECROWD")


@pytest.fixture(scope="session")
def bubbleview() -> Path:
    """The BubbleView folder (its .mat files are the data sets)."""
    return _shared_copy("BubbleView", "bubbleview", "gdi30x50.mat", "SALMAP_BUBBLEVIEW")


@pytest.fixture(scope="session")
def nus_mini() -> Path:
    return NUS_MINI


@pytest.fixture(scope="session")
def photos() -> Path:
    return REPO / "tests" / "data" / "photos"


@pytest.fixture(scope="session")
def tiny_saved_model(tmp_path_factory) -> Path:
    """A saved model folder with a tiny random encoder: fast, for commands' tests."""
    import torch

    from salmap.models import ModelConfig, SaliencyModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny"
    cfg = ModelConfig(
        encoder="tiny",
        encoder_weights=None,
        decoder="unet",
        decoder_args={"widths": [16, 16, 8]},
        input_size=(64, 64),
        aspect="pad",
        output="softmax",
        centre_bias=True,
        blur=True,
    )
    SaliencyModel(cfg).eval().save(path)
    return path
