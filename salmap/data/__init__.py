"""Saliency datasets as their owners distribute them, and what turns them into training data."""

from __future__ import annotations

from pathlib import Path

from salmap.data.base import (
    SPLIT_SEED,
    SPLITS,
    VAL_FRACTION,
    Record,
    SaliencyDataset,
    SplitRule,
    dataset_tag,
    fold_indices,
    ids_hash,
    split_indices,
)
from salmap.data.bubbleview import BubbleView
from salmap.data.cat2000 import CAT2000
from salmap.data.eyecrowd import EyeCrowd
from salmap.data.fixations import DENSITY_SIGMA, density_map, drop_outside, fixation_map
from salmap.data.folder import FolderDataset
from salmap.data.images import load_image, load_map
from salmap.data.mit1003 import MIT1003
from salmap.data.nus_scene import NUSScene
from salmap.data.osie import OSIE
from salmap.data.salicon import SALICON
from salmap.errors import DataError

# A dozen real NUS-Scene images with their fixations, shipped with salmap (MIT licence).
NUS_MINI = Path(__file__).parent / "nus_mini"

FORMATS: dict[str, type[SaliencyDataset]] = {
    "cat2000": CAT2000,
    "mit1003": MIT1003,
    "salicon": SALICON,
    "nus-scene": NUSScene,
    "osie": OSIE,
    "eyecrowd": EyeCrowd,
    "bubbleview": BubbleView,
    "folder": FolderDataset,
}

__all__ = [
    "DENSITY_SIGMA",
    "FORMATS",
    "NUS_MINI",
    "SPLITS",
    "SPLIT_SEED",
    "VAL_FRACTION",
    "DataError",
    "Record",
    "SaliencyDataset",
    "SplitRule",
    "dataset_tag",
    "density_map",
    "drop_outside",
    "fixation_map",
    "fold_indices",
    "formats",
    "guess_format",
    "ids_hash",
    "load_image",
    "load_map",
    "open_dataset",
    "split_indices",
]


def formats() -> dict[str, type[SaliencyDataset]]:
    """The readers: salmap's own and those of installed plugins (entry points
    ``salmap.datasets``, see :mod:`salmap.plugins`)."""
    from salmap.plugins import extend

    return extend("salmap.datasets", FORMATS)


def guess_format(path: str | Path) -> str:
    """The format whose layout ``path`` has (a folder, or a BubbleView .mat file); a DataError
    listing the layouts when none fits."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such folder or file")
    for name, cls in formats().items():
        if cls.find_root(path) is not None:
            return name
    if not path.is_dir():
        raise DataError(f"{path}: not a folder, nor a BubbleView .mat file (variable 'bubble')")
    raise DataError(
        f"{path}: no known dataset layout. Expected one of: CAT2000 (Stimuli/ + FIXATIONMAPS/), "
        "MIT1003 (ALLSTIMULI/ + ALLFIXATIONMAPS/), SALICON (images/ + maps/ or fixations/), "
        "NUS-Scene (stimuli/ + tidy/fixations.mat), OSIE (stimuli/ + eye/fixations.mat), "
        "EyeCrowd (OSIE's layout with labels.mat or images named 001.jpg ... 500.jpg), "
        "BubbleView (one .mat file of its folder), or a folder (images/ + maps/ and/or "
        "fixations/). Pass --format to say which."
    )


def open_dataset(
    path: str | Path, format: str | None = None, sigma: float = DENSITY_SIGMA
) -> SaliencyDataset:
    """Open a dataset folder; ``format`` is guessed from the layout when omitted.

    Opening only lists files (and reads small index files such as NUS-Scene's fixations.mat);
    images are decoded when a sample is read. Nothing under ``path`` is ever written.
    """
    fmt = format or guess_format(path)
    if fmt not in formats():
        raise DataError(f"unknown dataset format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return FORMATS[fmt].open(path, sigma=sigma)
