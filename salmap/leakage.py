"""Which images a model was trained on, recognised by content wherever they are scored.

A model's split rule says which of *its own* data set's images it learnt from, but nothing about
a copy of them in another folder (12 OSIE images copied into a folder layout, 11 of them from
`default`'s training set, were scored as new). So every trained model records the SHA-256 of
each training image's file (the first :data:`~salmap.data.hashing.SHA_PREFIX` hex digits,
sorted: 17 bytes an image) and its perceptual hash (:mod:`salmap.data.hashing`, which knows
a resized or re-encoded copy, such as the 640 x 480 OSIE images of the BubbleView data) under
``"trained_images"`` in its training recipe, and `salmap evaluate` compares the images it
scores against them. The shipped models, trained before this record existed, carry it beside
their weights (``salmap/weights/NAME.trained.json``, written by
``scripts/record_trained_images.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from salmap.data.hashing import (
    NEAR_DUPLICATE_BITS,
    SHA_PREFIX,
    bit_distances,
    cached_perceptual_hash,
    file_hash,
)

KEY = "trained_images"


def record(datasets: Iterable) -> dict:
    """The ``"trained_images"`` entry of a recipe for a model trained on ``datasets`` (the
    training parts: SaliencyDataset objects): the SHA-256 prefix of each image file, and its
    perceptual hash (16 hex digits), which also knows a resized or re-encoded copy."""
    files = [rec.image for ds in datasets for rec in ds.records]
    hashes = sorted({file_hash(f) for f in files})
    looks = sorted({f"{h:016x}" for h in map(cached_perceptual_hash, files) if h is not None})
    return {
        "hash": "sha256",
        "hex_digits": SHA_PREFIX,
        "count": len(hashes),
        "hashes": hashes,
        "perceptual": looks,
    }


def sidecar(weights: str | Path) -> Path:
    """Where a weights file's record lives when its metadata has none (the shipped models)."""
    weights = Path(weights)
    return weights.with_name(weights.name.split(".")[0] + ".trained.json")


class Trained:
    """The record of a model's training images: file hashes and perceptual hashes."""

    def __init__(self, entries: list[dict]):
        self.files = frozenset(h for e in entries for h in e.get("hashes", []))
        looks = sorted({int(h, 16) for e in entries for h in e.get("perceptual", [])})
        self.looks = np.array(looks, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.files)

    def knows(self, path) -> bool:
        """Whether the image file at ``path`` is one of the training images: the same bytes,
        or a picture within :data:`NEAR_DUPLICATE_BITS` of one (a resized or re-encoded copy)."""
        if file_hash(path) in self.files:
            return True
        look = cached_perceptual_hash(path) if len(self.looks) else None
        return look is not None and bool(
            bit_distances(self.looks, look).min() <= NEAR_DUPLICATE_BITS
        )


def merged(first: dict, others: Iterable[dict]) -> dict:
    """The record ``first`` with the images of the records ``others`` added: what a model
    learnt from its own data and what it inherits from the models it started from or learnt
    from (a distilled student: its teacher's training images)."""
    hashes, looks = set(first["hashes"]), set(first["perceptual"])
    for entry in others:
        hashes |= set(entry.get("hashes", []))
        looks |= set(entry.get("perceptual", []))
    return first | {"count": len(hashes), "hashes": sorted(hashes), "perceptual": sorted(looks)}


def entries(recipe: dict) -> list[dict]:
    """The records in a training recipe: its own, and its members' (an ensemble)."""
    found = [recipe.get(KEY)]
    found += [(m.get("training") or {}).get(KEY) for m in recipe.get("members") or []]
    return [e for e in found if e]


def _from_recipe(recipe: dict) -> Trained | None:
    found = entries(recipe)
    return Trained(found) if found else None


def recipe_with_record(model) -> dict:
    """The model's training recipe, with the record kept beside its weights where its metadata
    has none (the shipped models): what evaluation reads and an export carries."""
    recipe = dict(getattr(model, "training_recipe", None) or {})
    source = getattr(model, "source", None)
    if _from_recipe(recipe) is None and source and sidecar(source).is_file():
        recipe |= json.loads(sidecar(source).read_text(encoding="utf-8"))
    return recipe


def trained_images(model) -> Trained | None:
    """The record of the images ``model`` was trained on (an ensemble: its members'), or None
    where the model keeps none."""
    return _from_recipe(recipe_with_record(model))


def trained_ids(dataset, trained: Trained) -> list[str]:
    """The ids of ``dataset``'s images that ``trained`` knows."""
    return [rec.id for rec in dataset.records if trained.knows(rec.image)]
