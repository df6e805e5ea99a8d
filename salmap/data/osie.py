"""OSIE (Xu et al. 2014, "Predicting human gaze beyond pixels") as distributed: the original
``data/`` folder's ``stimuli/<n>.jpg`` (700 images, 800 x 600) and ``eye/fixations.mat``.

``fixations`` is a 700 x 1 cell array of structs, one per image: ``img`` names its file in
``stimuli/`` and ``subjects`` is a 15 x 1 cell array of structs with ``fix_x``, ``fix_y`` (image
pixels, x to the right, y down: named fields, so unlike NUS-Scene there is no doubt about the
order) and ``fix_duration`` (milliseconds), one entry per fixation. The coordinates are taken as
they are: over the whole set they run from 1.2 to 799.2 (x) and 1.2 to 599.2 (y), so whether
they count from 0 or 1 cannot be told, and the difference (one pixel) is far below the density
blur (20 pixels here).

EyeCrowd (:mod:`salmap.data.eyecrowd`) has the same layout and the same ``fixations.mat``; the
two are told apart by :func:`looks_like_eyecrowd`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from salmap.data.base import Record, SaliencyDataset
from salmap.data.fixations import stack_subjects
from salmap.data.matfiles import load_mat, struct_field
from salmap.errors import DataError

MAT = Path("eye") / "fixations.mat"


def looks_like_eyecrowd(root: Path) -> bool:
    """Whether a folder with OSIE's layout is EyeCrowd: it has EyeCrowd's face labels
    (``labels.mat``) beside ``stimuli/``, or an image named with three digits (EyeCrowd numbers
    its images 001.jpg to 500.jpg, OSIE 1001.jpg to 1700.jpg)."""
    if (root / "labels.mat").is_file():
        return True
    return any(p.stem.isdigit() and len(p.stem) == 3 for p in (root / "stimuli").iterdir())


class OSIE(SaliencyDataset):
    """Also the reader of every data set laid out like OSIE: a subclass names its ``format``,
    the ``folders`` its layout may sit in, and which folders it claims (``_claims``)."""

    format = "osie"
    title = "OSIE"
    folders = ("data", "osie")

    @classmethod
    def layout_root(cls, path: Path) -> Path | None:
        """The folder at or under ``path`` with ``stimuli/`` and ``eye/fixations.mat``."""
        for root in (path, *(path / f for f in cls.folders)):
            if (root / "stimuli").is_dir() and (root / MAT).is_file():
                return root
        return None

    @classmethod
    def _claims(cls, root: Path) -> bool:
        return not looks_like_eyecrowd(root)

    @classmethod
    def find_root(cls, path: Path) -> Path | None:
        root = cls.layout_root(path)
        return root if root is not None and cls._claims(root) else None

    @classmethod
    def open(cls, path: str | Path, **kwargs) -> OSIE:
        """Any folder with the layout, even one :meth:`find_root` leaves to another format:
        ``--format`` overrides the guess."""
        path = Path(path)
        root = cls.layout_root(path)
        if root is None:
            raise DataError(f"{path}: not {cls.title}: needs stimuli/ and {MAT}")
        mat = root / MAT
        cells = load_mat(mat, "fixations")["fixations"]
        if cells.dtype != object or cells.size == 0:
            raise DataError(f"{mat}: 'fixations' should be a cell array of structs, one per image")
        records, problems, n_subjects = [], [], 0
        for i, entry in enumerate(cells.ravel()):
            where = f"{mat}, fixations{{{i + 1}}}"
            name = str(np.asarray(struct_field(entry, "img", where)).ravel()[0])
            img = root / "stimuli" / name
            if not img.is_file():
                problems.append(f"{img}: missing (named in {where}); left out")
                continue
            per_subject = []
            for j, subject in enumerate(np.asarray(struct_field(entry, "subjects", where)).ravel()):
                at = f"{where}.subjects{{{j + 1}}}"
                x = np.asarray(struct_field(subject, "fix_x", at), float)
                y = np.asarray(struct_field(subject, "fix_y", at), float)
                if x.size != y.size:
                    raise DataError(f"{at}: {x.size} fix_x but {y.size} fix_y values")
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
        return stack_subjects(rec.extra["fixations"])
