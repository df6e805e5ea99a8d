"""NUS-Scene (Liang et al. 2015) as distributed: ``stimuli/NNN.jpg`` + ``tidy/fixations.mat``.

``fixations{i, j}`` holds image i's fixations of subject j, one row per fixation. The first two
columns are the fixation's **row and column** (y, x) in image pixels, not x, y as the copy's
README says: read as (y, x), every fixation of the 188 non-square images lies inside its image
(read as (x, y), 19% fall outside) and the fixations sit on the horizon, the road, the
buildings; a model trained on them beats the centre bias by far, while one trained on the README's
reading ``(x * w / h, y * h / w)`` (which keeps the points inside but transposes them) learns
nothing beyond the centre bias. The README's reference table cannot tell the two apart: the
centre Gaussian and the inter-observer scores barely change under the swap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from salmap.data.base import Record, SaliencyDataset
from salmap.data.fixations import stack_subjects
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
        fix, subjects = stack_subjects(rec.extra["fixations"])
        return fix[:, ::-1].copy(), subjects  # stored as (row, column)
