"""OSIE (Xu et al. 2014, "Predicting human gaze beyond pixels") as distributed: the original
``data/`` folder's ``stimuli/<n>.jpg`` (700 images, 800 x 600) and ``eye/fixations.mat``.

``fixations`` is a 700 x 1 cell array of structs, one per image: ``img`` names its file in
``stimuli/`` and ``subjects`` is a 15 x 1 cell array of structs with ``fix_x``, ``fix_y`` (image
pixels, x to the right, y down: named fields, so unlike NUS-Scene there is no doubt about the
order) and ``fix_duration`` (milliseconds), one entry per fixation. The coordinates are taken as
they are: over the whole set they run from 1.2 to 799.2 (x) and 1.2 to 599.2 (y), so whether
they count from 0 or 1 cannot be told, and the difference (one pixel) is far below the density
blur (20 pixels here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from salmap.data.base import Record, SaliencyDataset
from salmap.data.matfiles import load_mat
from salmap.errors import DataError

MAT = Path("eye") / "fixations.mat"


def _field(struct, name: str, where: str):
    """A field of a MATLAB struct as loaded by scipy (a 1 x 1 record array), or a DataError."""
    try:
        return struct[0, 0][name]
    except (IndexError, KeyError, ValueError, TypeError):
        raise DataError(f"{where}: no field {name!r}") from None


class OSIE(SaliencyDataset):
    format = "osie"

    @staticmethod
    def find_root(path: Path) -> Path | None:
        for root in (path, path / "data", path / "osie"):
            if (root / "stimuli").is_dir() and (root / MAT).is_file():
                return root
        return None

    @classmethod
    def open(cls, path: str | Path, **kwargs) -> OSIE:
        path = Path(path)
        root = cls.find_root(path)
        if root is None:
            raise DataError(f"{path}: not OSIE: needs stimuli/ and {MAT}")
        mat = root / MAT
        cells = load_mat(mat, "fixations")["fixations"]
        if cells.dtype != object or cells.size == 0:
            raise DataError(f"{mat}: 'fixations' should be a cell array of structs, one per image")
        records, problems, n_subjects = [], [], 0
        for i, entry in enumerate(cells.ravel()):
            where = f"{mat}, fixations{{{i + 1}}}"
            name = str(np.asarray(_field(entry, "img", where)).ravel()[0])
            img = root / "stimuli" / name
            if not img.is_file():
                problems.append(f"{img}: missing (named in {where}); left out")
                continue
            per_subject = []
            for j, subject in enumerate(np.asarray(_field(entry, "subjects", where)).ravel()):
                x = np.asarray(_field(subject, "fix_x", f"{where}.subjects{{{j + 1}}}"), float)
                y = np.asarray(_field(subject, "fix_y", f"{where}.subjects{{{j + 1}}}"), float)
                if x.size != y.size:
                    raise DataError(
                        f"{where}.subjects{{{j + 1}}}: {x.size} fix_x but {y.size} fix_y values"
                    )
                per_subject.append(np.stack([x.ravel(), y.ravel()], axis=1))
            n_subjects = max(n_subjects, len(per_subject))
            if not any(len(f) for f in per_subject):
                problems.append(f"{img}: no fixations from any subject; left out")
                continue
            records.append(Record(id=img.stem, image=img, extra={"fixations": per_subject}))
        ds = cls(root, records, problems, **kwargs)
        ds.n_subjects = n_subjects
        ds.index_files = [mat]
        return ds

    def load_fixations(self, rec: Record, shape):
        per_subject = rec.extra["fixations"]
        fix = np.concatenate(per_subject)
        subjects = np.concatenate([np.full(len(f), j) for j, f in enumerate(per_subject)])
        return fix, subjects
