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


@pytest.fixture(scope="session")
def nus_mini() -> Path:
    return NUS_MINI


@pytest.fixture(scope="session")
def photos() -> Path:
    return REPO / "tests" / "data" / "photos"
