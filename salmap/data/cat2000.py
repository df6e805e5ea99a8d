"""CAT2000 (MIT saliency benchmark), ``trainSet/`` as distributed.

``Stimuli/<Category>/NNN.jpg`` (1920x1080), ``FIXATIONMAPS/<Category>/NNN.jpg`` (continuous
density, grayscale) and ``FIXATIONLOCS/<Category>/NNN.mat`` (variable ``fixLocs``: a binary
image-sized map). Subfolders such as ``Output`` and files that are not images are ignored.
"""

from __future__ import annotations

from pathlib import Path

from salmap.data.base import Record, SaliencyDataset
from salmap.data.fixations import fixations_from_map
from salmap.data.images import is_image_file
from salmap.data.matfiles import load_mat
from salmap.errors import DataError


class CAT2000(SaliencyDataset):
    format = "cat2000"

    @staticmethod
    def find_root(path: Path) -> Path | None:
        for root in (path, path / "trainSet"):
            if (root / "Stimuli").is_dir() and (root / "FIXATIONMAPS").is_dir():
                return root
        return None

    @classmethod
    def open(cls, path: str | Path, **kwargs) -> CAT2000:
        path = Path(path)
        root = cls.find_root(path)
        if root is None:
            hint = ""
            if (path / "Stimuli").is_dir() or (path / "testSet").is_dir():
                hint = " (CAT2000's testSet has no labels: use trainSet)"
            raise DataError(
                f"{path}: not a CAT2000 trainSet: needs Stimuli/ and FIXATIONMAPS/{hint}"
            )
        records, problems = [], []
        categories = sorted(p for p in (root / "Stimuli").iterdir() if p.is_dir())
        if not categories:
            raise DataError(f"{root / 'Stimuli'}: no category folders")
        for cat_dir in categories:
            for img in sorted(p for p in cat_dir.iterdir() if p.is_file() and is_image_file(p)):
                cat = cat_dir.name
                smap = root / "FIXATIONMAPS" / cat / f"{img.stem}.jpg"
                locs = root / "FIXATIONLOCS" / cat / f"{img.stem}.mat"
                if not smap.is_file():
                    problems.append(f"{img}: no map (expected {smap}); left out")
                    continue
                records.append(
                    Record(
                        id=f"{cat}/{img.stem}",
                        image=img,
                        map=smap,
                        category=cat,
                        fixations=locs if locs.is_file() else None,
                    )
                )
        return cls(root, records, problems, **kwargs)

    def load_fixations(self, rec: Record, shape):
        if rec.fixations is None:
            return None
        locs = load_mat(rec.fixations, "fixLocs")["fixLocs"]
        if locs.shape != tuple(shape):
            raise DataError(
                f"{rec.fixations}: fixLocs is {locs.shape[1]}x{locs.shape[0]} but "
                f"{rec.image} is {shape[1]}x{shape[0]}"
            )
        return fixations_from_map(locs), None
