"""The dataset base class every reader builds on, and the deterministic train/val split."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from salmap.data.fixations import DENSITY_SIGMA, density_map, split_inside
from salmap.data.images import image_size, load_image, load_map
from salmap.errors import DataError

VAL_FRACTION = 0.2
SPLIT_SEED = 0
SPLITS = ("train", "val", "all")


@dataclass(frozen=True)
class Record:
    """Where one sample's files are. Readers fill these in; nothing is decoded yet."""

    id: str
    image: Path
    map: Path | None = None
    category: str | None = None
    fixations: Path | None = None  # a per-image fixation file, when the format has one
    official_split: str | None = None  # the split the dataset's owners assigned, if any
    extra: dict = field(default_factory=dict, compare=False)


class SaliencyDataset:
    """A saliency dataset as distributed: a list of records, decoded one sample at a time.

    ``dataset[i]`` is a dict with
      - ``image``: H x W x 3 uint8 RGB (EXIF orientation applied),
      - ``saliency_map``: H x W float32 — the distributed continuous map scaled to [0, 1] where
        the dataset ships maps, else the fixation density (sums to 1; see ``map_kind``),
      - ``map_kind``: ``"distributed"`` or ``"density"``,
      - ``fixations``: N x 2 float64 (x, y) in image pixels, or None where there are none,
      - ``subjects``: N int array of the observer of each fixation, or None,
      - ``id``, ``category`` (or None), ``image_path``, ``dropped`` (fixations outside the image).
    Samples never share arrays with the dataset, so callers may modify them.
    """

    format: ClassVar[str] = ""

    def __init__(
        self,
        root: str | Path,
        records: list[Record],
        problems: list[str] | None = None,
        sigma: float = DENSITY_SIGMA,
    ):
        self.root = Path(root)
        self.records = list(records)
        self.problems = list(problems or [])
        self.sigma = sigma

    # -- reading --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        return self.sample(index)

    def sample(self, index: int, density: bool = True) -> dict:
        """Sample ``index``; with ``density=False`` a density map is not computed (the map is
        None and ``map_kind`` "density"), for callers that resize first and blur after."""
        rec = self.records[index]
        image = load_image(rec.image)
        shape = image.shape[:2]
        fixations, subjects, dropped = self.fixations_inside(index, shape)
        if rec.map is not None:
            smap = load_map(rec.map)
            if smap.shape != shape:
                raise DataError(
                    f"{rec.map} is {smap.shape[1]}x{smap.shape[0]} but {rec.image} is "
                    f"{shape[1]}x{shape[0]}: a map must have its image's size"
                )
            kind = "distributed"
        elif fixations is not None and len(fixations):
            smap = density_map(fixations, shape, self.sigma) if density else None
            kind = "density"
        else:
            raise DataError(f"{rec.image}: no saliency map and no fixations inside the image")
        return {
            "image": image,
            "saliency_map": smap,
            "map_kind": kind,
            "fixations": fixations,
            "subjects": subjects,
            "id": rec.id,
            "category": rec.category,
            "image_path": str(rec.image),
            "dropped": dropped,
        }

    def fixations_inside(self, index: int, shape: tuple[int, int] | None = None):
        """(fixations N x 2, subjects N or None, how many fell outside and were dropped) of
        image ``index``, or (None, None, 0) where it has none. ``shape`` (H, W) defaults to the
        image's header, so no pixels are decoded."""
        rec = self.records[index]
        shape = self.image_size(index) if shape is None else shape
        loaded = self.load_fixations(rec, shape)
        if loaded is None:
            return None, None, 0
        fix, subjects = loaded
        fix = np.asarray(fix, dtype=np.float64).reshape(-1, 2)
        inside = split_inside(fix, shape)
        subjects = None if subjects is None else np.asarray(subjects)[inside]
        return fix[inside], subjects, int((~inside).sum())

    def load_fixations(self, rec: Record, shape: tuple[int, int]):
        """(fixations N x 2 in image pixels, subjects N or None), or None where there are none.

        ``shape`` is the decoded image's (H, W), for formats whose coordinates depend on it.
        """
        return None

    # -- describing -----------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    @property
    def categories(self) -> list[str | None]:
        return [r.category for r in self.records]

    def image_size(self, index: int) -> tuple[int, int]:
        """(H, W) of one image, from its header."""
        return image_size(self.records[index].image)

    def subset(self, indices) -> SaliencyDataset:
        """A dataset of the same kind holding only the records at ``indices``."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.records = [self.records[i] for i in indices]
        return new

    def split(self, name: str, val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED):
        """The ``train``, ``val`` or ``all`` part; see :func:`split_indices`."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        if name == "all":
            return self
        official = [r.official_split for r in self.records]
        if all(s in ("train", "val") for s in official):
            return self.subset([i for i, s in enumerate(official) if s == name])
        groups = self.duplicate_groups(indices=True)
        train, val = split_indices(self.ids, self.categories, val_fraction, seed, groups)
        return self.subset(train if name == "train" else val)

    def duplicate_groups(self, indices: bool = False) -> list[tuple]:
        """Near-duplicate images (the same photo re-encoded or resized, found by a perceptual
        hash: :mod:`salmap.data.hashing`), as tuples of ids, or of indices with ``indices``.
        An image that cannot be read is left out here (the readers report it)."""
        from salmap.data.hashing import cached_perceptual_hash, near_duplicate_groups

        hashes, where = [], []
        for i, rec in enumerate(self.records):
            h = cached_perceptual_hash(rec.image)
            if h is not None:
                hashes.append(h)
                where.append(i)
        groups = [tuple(where[k] for k in g) for g in near_duplicate_groups(hashes)]
        return groups if indices else [tuple(self.records[i].id for i in g) for g in groups]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, {len(self)} images)"


@dataclass(frozen=True)
class SplitRule:
    """How a dataset is divided into train and val: a seed and a validation fraction (see
    :func:`split_indices`), or the id lists a training run recorded in its ``split.json``.
    ``source`` says where the rule came from, for messages and provenance."""

    seed: int = SPLIT_SEED
    val_fraction: float = VAL_FRACTION
    ids: dict[str, tuple[str, ...]] | None = None  # "train"/"val" -> ids, when listed
    source: str = "salmap's default split"

    @classmethod
    def from_ids_file(
        cls,
        path: str | Path,
        seed: int | None = None,
        val_fraction=None,
        dataset_tag: str | None = None,
    ):
        """A rule from a file of ids: a run's ``split.json`` ({"train": [...], "val": [...]})
        or a text file with one id per line, read as the validation ids. A run on several data
        sets lists each one's ids under ``"datasets": {tag: {"train": ..., "val": ...}}``: the
        lists of ``dataset_tag`` (see :func:`dataset_tag`) are used, and None is returned when
        the run did not train on that data set."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: cannot read the id list ({e})") from None
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: not valid JSON ({e})") from None
            if isinstance(data, dict) and isinstance(data.get("datasets"), dict):
                if dataset_tag not in data["datasets"]:
                    return None
                data = data["datasets"][dataset_tag]
            if not isinstance(data, dict) or not all(
                isinstance(data.get(k), list) for k in ("train", "val")
            ):
                raise DataError(f'{path}: expected {{"train": [ids], "val": [ids]}}')
            ids = {k: tuple(str(i) for i in data[k]) for k in ("train", "val")}
        else:
            ids = {"val": tuple(line.strip() for line in text.splitlines() if line.strip())}
        if not ids["val"]:
            raise DataError(f"{path}: no validation ids")
        return cls(
            SPLIT_SEED if seed is None else seed,
            VAL_FRACTION if val_fraction is None else val_fraction,
            ids,
            str(path),
        )

    def part(self, dataset: SaliencyDataset, name: str) -> SaliencyDataset:
        """The ``train``, ``val`` or ``all`` part of ``dataset`` under this rule. With id lists,
        ids the dataset lacks are a DataError; an image in neither list counts as train when only
        the validation ids are listed."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        if self.ids is None or name == "all":
            return dataset.split(name, self.val_fraction, self.seed)
        have = set(dataset.ids)
        listed = [i for ids in self.ids.values() for i in ids]
        absent = [i for i in listed if i not in have]
        if absent:
            raise DataError(
                f"{self.source} lists {len(absent)} image(s) that {dataset.root} does not have "
                f"(first: {absent[0]}): the split was made on other data"
            )
        if name in self.ids:
            wanted = set(self.ids[name])
            return dataset.subset([i for i, x in enumerate(dataset.ids) if x in wanted])
        val = set(self.ids["val"])
        return dataset.subset([i for i, x in enumerate(dataset.ids) if x not in val])

    def describe(self) -> str:
        if self.ids is not None:
            return f"the id lists of {self.source}"
        return f"seed {self.seed}, validation fraction {self.val_fraction:g} ({self.source})"


def dataset_tag(dataset: SaliencyDataset) -> str:
    """A short name for a data set in a run on several: its format's name (``nus-scene``,
    ``osie``), or the folder's name for the folder format."""
    return Path(dataset.root).name if dataset.format == "folder" else dataset.format


def ids_hash(ids: Iterable[str]) -> str:
    """SHA-256 of the sorted ids, one per line: names a set of images in provenance records."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def _rank(seed: int, item_id: str) -> str:
    return hashlib.sha256(f"{seed}:{item_id}".encode()).hexdigest()


def split_indices(
    ids: list[str],
    categories: list[str | None] | None = None,
    val_fraction: float = VAL_FRACTION,
    seed: int = SPLIT_SEED,
    together: Iterable[Iterable[int]] = (),
) -> tuple[list[int], list[int]]:
    """Deterministic train/val split, stratified by category.

    Within each category the items are ordered by SHA-256 of ``"{seed}:{id}"`` and the first
    ``round(val_fraction * n)`` go to validation. The split depends only on the ids, the seed and
    the fraction: the same on every machine, and adding images never moves existing ones from
    val to train or back except within their category's quota. The groups in ``together``
    (index lists, e.g. near-duplicate images) stay on one side: each member follows the member that comes first in
    that order, so only the other members of a group ever move.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    categories = categories or [None] * len(ids)
    groups: dict[str | None, list[int]] = {}
    for i, c in enumerate(categories):
        groups.setdefault(c, []).append(i)
    val: list[int] = []
    for members in groups.values():
        ordered = sorted(members, key=lambda i: _rank(seed, ids[i]))
        val.extend(ordered[: int(round(val_fraction * len(members)))])
    val_set = set(val)
    for lead, rest in _leads(together, ids, seed):
        val_set.difference_update(rest)
        if lead in val_set:
            val_set.update(rest)
    return [i for i in range(len(ids)) if i not in val_set], sorted(val_set)


def _leads(groups, ids: list[str], seed: int) -> list[tuple[int, list[int]]]:
    """(the member first in the split's order, the others) for each group of indices."""
    out = []
    for g in groups:
        g = sorted(g, key=lambda i: _rank(seed, ids[i]))
        out.append((g[0], g[1:]))
    return out


def fold_indices(
    ids: list[str],
    categories: list[str | None] | None = None,
    k: int = 5,
    seed: int = SPLIT_SEED,
    together: Iterable[Iterable[int]] = (),
) -> list[int]:
    """The fold (0 to k - 1) of each item for k-fold cross-validation, stratified like
    :func:`split_indices`: within each category the items, ordered by SHA-256 of
    ``"{seed}:{id}"``, are dealt to the folds in turn, so fold sizes differ by at most one per
    category; the members of each group in ``together`` (index lists) join the fold of the member first
    in that order. Cross-validate inside a training split (never on its validation split)."""
    if k < 2:
        raise ValueError(f"k-fold cross-validation needs k >= 2, got {k}")
    categories = categories or [None] * len(ids)
    groups: dict[str | None, list[int]] = {}
    for i, c in enumerate(categories):
        groups.setdefault(c, []).append(i)
    folds = [0] * len(ids)
    for members in groups.values():
        for rank, i in enumerate(sorted(members, key=lambda i: _rank(seed, ids[i]))):
            folds[i] = rank % k
    for lead, rest in _leads(together, ids, seed):
        for i in rest:
            folds[i] = folds[lead]
    return folds
