"""Which images a model was trained on, recognised by content wherever they are scored.

A model's split rule says which of *its own* data set's images it learnt from, but nothing about
a copy of them in another folder (12 OSIE images copied into a folder layout, 11 of them from
`default`'s training set, were scored as new). So every trained model records the SHA-256 of
each training image's file (the first :data:`~salmap.data.hashing.SHA_PREFIX` hex digits,
sorted: 17 bytes an image) under ``"trained_images"`` in its training recipe, and `salmap
evaluate` compares the files it scores against them. The shipped models, trained before this
record existed, carry it beside their weights (``salmap/weights/NAME.trained.json``, written
by ``scripts/record_trained_images.py``). A re-encoded or resized copy has other bytes: the
split's near-duplicate check (:mod:`salmap.data.hashing`) covers those within a data set.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from salmap.data.hashing import SHA_PREFIX, file_hash

KEY = "trained_images"


def record(datasets: Iterable) -> dict:
    """The ``"trained_images"`` entry of a recipe for a model trained on ``datasets`` (the
    training parts: SaliencyDataset objects)."""
    hashes = sorted({file_hash(rec.image) for ds in datasets for rec in ds.records})
    return {"hash": "sha256", "hex_digits": SHA_PREFIX, "count": len(hashes), "hashes": hashes}


def sidecar(weights: str | Path) -> Path:
    """Where a weights file's record lives when its metadata has none (the shipped models)."""
    weights = Path(weights)
    return weights.with_name(weights.name.split(".")[0] + ".trained.json")


def _from_recipe(recipe: dict) -> set[str] | None:
    entries = [recipe.get(KEY)]
    entries += [(m.get("training") or {}).get(KEY) for m in recipe.get("members") or []]
    found = [e for e in entries if e]
    if not found:
        return None
    return {h for e in found for h in e.get("hashes", [])}


def trained_hashes(model) -> frozenset[str] | None:
    """The file hashes of the images ``model`` was trained on (an ensemble: its members'), or
    None where the model keeps no record."""
    recipe = getattr(model, "training_recipe", None) or {}
    hashes = _from_recipe(recipe)
    source = getattr(model, "source", None)
    if hashes is None and source and sidecar(source).is_file():
        hashes = _from_recipe(json.loads(sidecar(source).read_text(encoding="utf-8")))
    return None if hashes is None else frozenset(hashes)


def trained_ids(dataset, hashes: frozenset[str]) -> list[str]:
    """The ids of ``dataset``'s images whose files are among ``hashes``."""
    return [rec.id for rec in dataset.records if file_hash(rec.image) in hashes]
