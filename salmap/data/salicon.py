"""SALICON (2017 release) as distributed.

Images ``images/[train|val|test/]COCO_{train,val,test}2014_%012d.jpg`` (640x480), maps
``maps/{train,val}/<stem>.png`` and fixations ``fixations/{train,val}/<stem>.mat`` with the
variable ``gaze``: one struct per subject whose field ``fixations`` is N x 2 (x, y), 1-based
pixel indices. The owners' train/val split is kept as the dataset's split; test images have no
labels and are left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from salmap.data.base import Record, SaliencyDataset
from salmap.data.images import is_image_file
from salmap.data.matfiles import load_mat
from salmap.errors import DataError


class SALICON(SaliencyDataset):
    format = "salicon"

    @staticmethod
    def find_root(path: Path) -> Path | None:
        for root in (path, path / "salicon", path / "SALICON"):
            labels = [
                root / kind / split for kind in ("maps", "fixations") for split in ("train", "val")
            ]
            # COCO names tell SALICON from a user's folder dataset with train/ subfolders
            if (
                (root / "images").is_dir()
                and any(p.is_dir() for p in labels)
                and next((root / "images").rglob("COCO_*2014_*"), None) is not None
            ):
                return root
        return None

    @classmethod
    def open(cls, path: str | Path, **kwargs) -> SALICON:
        path = Path(path)
        root = cls.find_root(path)
        if root is None:
            raise DataError(
                f"{path}: not SALICON: needs images/ and maps/{{train,val}}/ or fixations/{{train,val}}/"
            )
        records, problems, unlabelled = [], [], 0
        for img in sorted(p for p in (root / "images").rglob("*") if is_image_file(p)):
            split = _split_of(img.stem)
            if split == "test":
                unlabelled += 1
                continue
            if split is None:
                problems.append(f"{img}: not a COCO_{{train,val}}2014_* name; left out")
                continue
            smap = root / "maps" / split / f"{img.stem}.png"
            fix = root / "fixations" / split / f"{img.stem}.mat"
            if not smap.is_file() and not fix.is_file():
                problems.append(f"{img}: neither {smap} nor {fix} exists; left out")
                continue
            records.append(
                Record(
                    id=img.stem,
                    image=img,
                    map=smap if smap.is_file() else None,
                    fixations=fix if fix.is_file() else None,
                    official_split=split,
                )
            )
        ds = cls(root, records, problems, **kwargs)
        ds.unlabelled = unlabelled
        return ds

    def load_fixations(self, rec: Record, shape):
        if rec.fixations is None:
            return None
        gaze = load_mat(rec.fixations, "gaze")["gaze"].ravel()
        points, subjects = [], []
        for s, subject in enumerate(gaze):
            try:
                f = np.asarray(subject["fixations"], dtype=np.float64).reshape(-1, 2)
            except (ValueError, IndexError) as e:
                raise DataError(
                    f"{rec.fixations}: gaze[{s}] has no N x 2 'fixations' ({e})"
                ) from None
            points.append(f - 0.5)  # 1-based pixel index k -> centre of pixel k-1
            subjects.append(np.full(len(f), s))
        if not points:
            return np.zeros((0, 2)), np.zeros(0, int)
        return np.concatenate(points), np.concatenate(subjects)


def _split_of(stem: str) -> str | None:
    for split in ("train", "val", "test"):
        if stem.startswith(f"COCO_{split}2014_"):
            return split
    return None
