"""NUS-Scene (Liang et al. 2015) as distributed: ``stimuli/NNN.jpg`` + ``tidy/fixations.mat``.

``fixations{i, j}`` holds image i's fixations of subject j, rows ``x, y, onset, duration``.
The distribution stores the coordinates of non-square images (w != h) with x scaled by the
image's height and y by its width; this reader undoes that, giving ``(x * w / h, y * h / w)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from salmap.data.base import Record, SaliencyDataset
from salmap.data.matfiles import load_mat
from salmap.errors import DataError


class NUSScene(SaliencyDataset):
    format = "nus-scene"

    @staticmethod
    def find_root(path: Path) -> Path | None:
        for root in (path, path / "data", path / "nus-scene"):
            if (root / "stimuli").is_dir() and (root / "tidy" / "fixations.mat").is_file():
                return root
        return None

    @classmethod
    def open(cls, path: str | Path, **kwargs) -> NUSScene:
        path = Path(path)
        root = cls.find_root(path)
        if root is None:
            raise DataError(f"{path}: not NUS-Scene: needs stimuli/ and tidy/fixations.mat")
        mat = root / "tidy" / "fixations.mat"
        cells = load_mat(mat, "fixations")["fixations"]
        if cells.ndim != 2 or cells.dtype != object:
            raise DataError(f"{mat}: 'fixations' should be an images x subjects cell array")
        records, problems = [], []
        for i in range(cells.shape[0]):
            img = root / "stimuli" / f"{i + 1:03d}.jpg"
            if not img.is_file():
                problems.append(f"{img}: missing (row {i + 1} of {mat}); left out")
                continue
            per_subject = [np.asarray(c, dtype=np.float64).reshape(-1, 4)[:, :2] for c in cells[i]]
            if not any(len(f) for f in per_subject):
                problems.append(f"{img}: no fixations from any subject; left out")
                continue
            records.append(Record(id=img.stem, image=img, extra={"fixations": per_subject}))
        ds = cls(root, records, problems, **kwargs)
        ds.n_subjects = cells.shape[1]
        ds.index_files = [mat]
        return ds

    def load_fixations(self, rec: Record, shape):
        per_subject = rec.extra["fixations"]
        fix = np.concatenate(per_subject).copy()
        subjects = np.concatenate([np.full(len(f), j) for j, f in enumerate(per_subject)])
        h, w = shape
        if h != w:
            fix[:, 0] *= w / h
            fix[:, 1] *= h / w
        return fix, subjects
