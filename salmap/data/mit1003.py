"""MIT1003 (Judd et al. 2009) as distributed.

``ALLSTIMULI/<stem>.jpeg`` (1003 images, longer side 1024), ``ALLFIXATIONMAPS/<stem>_fixMap.jpg``
(continuous density) and ``ALLFIXATIONMAPS/<stem>_fixPts.jpg`` (binary fixation points, stored as
JPEG: pixels above half intensity count as fixated). One file of the distribution lacks the
underscore (``..._p1010764fixPts.jpg``); it is found too.
"""

from __future__ import annotations

from pathlib import Path

from salmap.data.base import Record, SaliencyDataset
from salmap.data.fixations import fixations_from_map
from salmap.data.images import is_image_file, load_map
from salmap.errors import DataError


class MIT1003(SaliencyDataset):
    format = "mit1003"

    @staticmethod
    def find_root(path: Path) -> Path | None:
        for root in (path, path / "MIT1003"):
            if (root / "ALLSTIMULI").is_dir() and (root / "ALLFIXATIONMAPS").is_dir():
                return root
        return None

    @classmethod
    def open(cls, path: str | Path, **kwargs) -> MIT1003:
        path = Path(path)
        root = cls.find_root(path)
        if root is None:
            raise DataError(f"{path}: not MIT1003: needs ALLSTIMULI/ and ALLFIXATIONMAPS/")
        maps_dir = root / "ALLFIXATIONMAPS"
        records, problems = [], []
        for img in sorted(p for p in (root / "ALLSTIMULI").iterdir() if is_image_file(p)):
            smap = maps_dir / f"{img.stem}_fixMap.jpg"
            pts = next(
                (
                    p
                    for p in (
                        maps_dir / f"{img.stem}_fixPts.jpg",
                        maps_dir / f"{img.stem}fixPts.jpg",
                    )
                    if p.is_file()
                ),
                None,
            )
            if not smap.is_file():
                problems.append(f"{img}: no map (expected {smap}); left out")
                continue
            if pts is None:
                problems.append(f"{img}: no fixation points ({img.stem}_fixPts.jpg)")
            records.append(Record(id=img.stem, image=img, map=smap, fixations=pts))
        return cls(root, records, problems, **kwargs)

    def load_fixations(self, rec: Record, shape):
        if rec.fixations is None:
            return None
        pts = load_map(rec.fixations)
        if pts.shape != tuple(shape):
            raise DataError(
                f"{rec.fixations} is {pts.shape[1]}x{pts.shape[0]} but {rec.image} is "
                f"{shape[1]}x{shape[0]}"
            )
        return fixations_from_map(pts, threshold=0.5), None
