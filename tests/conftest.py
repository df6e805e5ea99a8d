import os
from pathlib import Path

import pytest

from salmap.data import NUS_MINI

REPO = Path(__file__).resolve().parents[1]
NUS_SCENE = Path(
    os.environ.get("SALMAP_NUS_SCENE", REPO.parent / "shared" / "datasets" / "nus-scene")
)


@pytest.fixture(scope="session")
def nus_scene() -> Path:
    """The full NUS-Scene copy beside the repository (../shared), skipped where absent."""
    if not (NUS_SCENE / "tidy" / "fixations.mat").is_file():
        pytest.skip(f"NUS-Scene not found at {NUS_SCENE} (set SALMAP_NUS_SCENE to point at a copy)")
    return NUS_SCENE


OSIE = Path(os.environ.get("SALMAP_OSIE", REPO.parent / "shared" / "datasets" / "osie"))


@pytest.fixture(scope="session")
def osie() -> Path:
    """The full OSIE copy beside the repository (../shared), skipped where absent."""
    if not (OSIE / "eye" / "fixations.mat").is_file():
        pytest.skip(f"OSIE not found at {OSIE} (set SALMAP_OSIE to point at a copy)")
    return OSIE


EYECROWD = Path(os.environ.get("SALMAP_EYECROWD", REPO.parent / "shared" / "datasets" / "eyecrowd"))


@pytest.fixture(scope="session")
def eyecrowd() -> Path:
    """The full EyeCrowd copy beside the repository (../shared), skipped where absent."""
    if not (EYECROWD / "eye" / "fixations.mat").is_file():
        pytest.skip(f"EyeCrowd not found at {EYECROWD} (set SALMAP_EYECROWD to point at a copy)")
    return EYECROWD


BUBBLEVIEW = Path(
    os.environ.get("SALMAP_BUBBLEVIEW", REPO.parent / "shared" / "datasets" / "bubbleview")
)


@pytest.fixture(scope="session")
def bubbleview() -> Path:
    """The BubbleView folder beside the repository (../shared), skipped where absent."""
    if not (BUBBLEVIEW / "gdi30x50.mat").is_file():
        pytest.skip(
            f"BubbleView not found at {BUBBLEVIEW} (set SALMAP_BUBBLEVIEW to point at a copy)"
        )
    return BUBBLEVIEW


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
