"""A generic layout for users' own data, matched by relative path without extension::

    root/images/<name>.<jpg|png|...>         (subfolders allowed; the first level is the category)
    root/maps/<name>.<png|jpg|npy>           continuous saliency maps (optional)
    root/fixations/<name>.<csv|npy>          fixation points (optional)

A fixation file holds one fixation per row: ``x, y`` in image pixels (x to the right, y down,
continuous coordinates: the pixel in column c covers c <= x < c + 1). CSV files may start with a
header row; a column named ``subject`` (or a third column in a .npy) gives each fixation's
observer. At least one of maps/ and fixations/ must exist.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from salmap.data.base import Record, SaliencyDataset
from salmap.data.images import IMAGE_EXTENSIONS, is_image_file
from salmap.errors import DataError

MAP_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".npy")
FIXATION_EXTENSIONS = (".csv", ".npy")


def _find(folder: Path, rel: Path, extensions) -> Path | None:
    for ext in extensions:
        for candidate in (folder / rel.with_suffix(ext), folder / rel.with_suffix(ext.upper())):
            if candidate.is_file():
                return candidate
    return None


class FolderDataset(SaliencyDataset):
    format = "folder"

    @staticmethod
    def find_root(path: Path) -> Path | None:
        if (path / "images").is_dir() and (
            (path / "maps").is_dir() or (path / "fixations").is_dir()
        ):
            return path
        return None

    @classmethod
    def open(cls, path: str | Path, **kwargs) -> FolderDataset:
        path = Path(path)
        if cls.find_root(path) is None:
            raise DataError(
                f"{path}: not a salmap folder dataset: needs images/ and maps/ and/or fixations/"
            )
        images, maps, fixations = path / "images", path / "maps", path / "fixations"
        records, problems = [], []
        for img in sorted(p for p in images.rglob("*") if p.is_file() and is_image_file(p)):
            rel = img.relative_to(images)
            smap = _find(maps, rel, MAP_EXTENSIONS) if maps.is_dir() else None
            fix = _find(fixations, rel, FIXATION_EXTENSIONS) if fixations.is_dir() else None
            if smap is None and fix is None:
                problems.append(f"{img}: no map in maps/ and no fixations in fixations/; left out")
                continue
            category = rel.parts[0] if len(rel.parts) > 1 else None
            records.append(
                Record(
                    id=rel.with_suffix("").as_posix(),
                    image=img,
                    map=smap,
                    fixations=fix,
                    category=category,
                )
            )
        stray = [
            p
            for p in images.rglob("*")
            if p.is_file()
            and not p.name.startswith(".")
            and p.suffix.lower() not in IMAGE_EXTENSIONS
        ]
        problems += [f"{p}: not an image file; ignored" for p in stray[:20]]
        return cls(path, records, problems, **kwargs)

    def load_fixations(self, rec: Record, shape):
        if rec.fixations is None:
            return None
        return read_fixation_file(rec.fixations)


def read_fixation_file(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(N x 2 fixations, N subjects or None) from a CSV or .npy file."""
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot be read as a .npy array ({e})") from None
        if a.ndim != 2 or a.shape[1] not in (2, 3):
            raise DataError(f"{path}: expected an N x 2 (x, y) or N x 3 array, got {a.shape}")
        subjects = a[:, 2].astype(int) if a.shape[1] == 3 else None
        return a[:, :2].astype(np.float64), subjects
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot be read as CSV ({e})") from None
    columns = {"x": 0, "y": 1}
    if rows and not _is_number(rows[0][0]):
        header = [c.strip().lower() for c in rows[0]]
        if "x" not in header or "y" not in header:
            raise DataError(f"{path}: header {rows[0]} has no 'x' and 'y' columns")
        columns = {name: header.index(name) for name in ("x", "y", "subject") if name in header}
        rows = rows[1:]
    try:
        xy = np.array([[float(r[columns["x"]]), float(r[columns["y"]])] for r in rows])
        subjects = (
            np.array([int(float(r[columns["subject"]])) for r in rows])
            if "subject" in columns
            else None
        )
    except (ValueError, IndexError) as e:
        raise DataError(f"{path}: every row needs numeric x and y ({e})") from None
    return xy.reshape(-1, 2), subjects


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
