"""A decoded, resized copy of a dataset split, so that training epochs do no JPEG decoding.

Built once per (dataset files, input size, aspect mode, density blur) into
``<cache root>/<key>/`` as three arrays memory-mapped at training time:
``images.npy`` (N x H x W x 3 uint8), ``maps.npy`` (N x H x W float16, the training target:
a distributed map as it is in [0, 1], a fixation density scaled to a maximum of 1) and
``fixations.npy`` (N x H x W uint8, 1 at fixated pixels). The folder is built under a temporary
name and renamed when complete, so an interrupted build leaves no usable-looking cache. The
cache root defaults to ``$XDG_CACHE_HOME/salmap`` (``~/.cache/salmap``), never the dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from salmap.data.base import SaliencyDataset
from salmap.data.fixations import fixation_map
from salmap.data.transforms import Resize
from salmap.files import atomic_folder

CACHE_VERSION = 2


def default_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "salmap"


def cache_key(dataset: SaliencyDataset, size, aspect: str) -> str:
    files = []
    paths = [p for rec in dataset.records for p in (rec.image, rec.map, rec.fixations)]
    for p in paths + list(getattr(dataset, "index_files", [])):  # e.g. NUS-Scene's fixations.mat
        if p is not None:
            st = Path(p).stat()
            files.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    desc = {
        "v": CACHE_VERSION,
        "format": dataset.format,
        "ids": dataset.ids,
        "files": files,
        "size": list(size),
        "aspect": aspect,
        "sigma": dataset.sigma,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:24]


def training_target(sample: dict) -> np.ndarray:
    """The map a model is trained towards: distributed maps as they are, densities / max."""
    smap = sample["saliency_map"]
    if sample["map_kind"] == "density":
        smap = smap / max(float(smap.max()), 1e-12)
    return np.clip(smap, 0.0, 1.0)


class SampleCache:
    """The arrays of a built cache (read-only memory maps) and the sample ids."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.images = np.load(self.folder / "images.npy", mmap_mode="r")
        self.maps = np.load(self.folder / "maps.npy", mmap_mode="r")
        self.fixations = np.load(self.folder / "fixations.npy", mmap_mode="r")
        self.meta = json.loads((self.folder / "meta.json").read_text())

    def __len__(self) -> int:
        return len(self.images)

    @property
    def has_fixations(self) -> bool:
        return bool(self.meta["has_fixations"])


def build_cache(
    dataset: SaliencyDataset,
    size,
    aspect: str = "resize",
    root: str | Path | None = None,
    workers: int = 2,
    progress=None,
) -> SampleCache:
    """Decode and resize every sample of ``dataset`` once; reuse the cache when it exists."""
    root = Path(root) if root else default_cache_root()
    folder = root / cache_key(dataset, size, aspect)
    if (folder / "meta.json").is_file():
        return SampleCache(folder)
    with atomic_folder(folder) as tmp:
        h, w = int(size[0]), int(size[1])
        n = len(dataset)
        images = np.lib.format.open_memmap(tmp / "images.npy", "w+", np.uint8, (n, h, w, 3))
        maps = np.lib.format.open_memmap(tmp / "maps.npy", "w+", np.float16, (n, h, w))
        fix = np.lib.format.open_memmap(tmp / "fixations.npy", "w+", np.uint8, (n, h, w))
        resize = Resize((h, w), aspect, dataset.sigma)
        counts = np.zeros(n, dtype=np.int64)

        def one(i: int) -> None:
            s = resize(dataset.sample(i, density=False))
            images[i] = s["image"]
            maps[i] = training_target(s)
            if s.get("fixations") is not None:
                fix[i] = fixation_map(s["fixations"], (h, w))
                counts[i] = len(s["fixations"])

        with ThreadPoolExecutor(max(1, workers)) as pool:
            jobs = pool.map(one, range(n))
            for _ in progress(jobs, total=n) if progress else jobs:
                pass
        for a in (images, maps, fix):
            a.flush()
        meta = {
            "ids": dataset.ids,
            "size": [h, w],
            "aspect": aspect,
            "format": dataset.format,
            "root": str(dataset.root),
            "has_fixations": bool(counts.sum() > 0),
            "fixations_per_image": counts.tolist(),
        }
        (tmp / "meta.json").write_text(json.dumps(meta))
    return SampleCache(folder)
