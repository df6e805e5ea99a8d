"""BubbleView click data (Kim et al., TOCHI 2017) as distributed: one ``.mat`` file per
experiment beside the image folders it names (``targets_gdi/``, ``targets_massvis30/``,
``targets_osie/``, ...). A data set is one ``.mat`` file: ``--data bubbleview/gdi30x50.mat``.

Each file holds one variable ``bubble``, a struct array with one entry per image: ``filename``,
``impath`` (the image's path relative to the file's folder) and ``userdata``, one entry per
viewer, whose ``fixations.enc`` is an N x 2 array of (x, y) image pixels (x to the right, y
down; N = 0 where the viewer did not click). Clicks are read as fixations and each viewer as a
subject; a viewer without clicks on an image contributes nothing to it. ``fixations.rec`` and
the click times ``fixations.enc_time`` are not read. ``osie-eye-official.mat`` holds OSIE's eye
fixations of the same images in the same struct (one "viewer" per observer), so it is read the
same way, with the same ids as ``osie30x30.mat``.

The GDI designs come with importance maps (``gdi-official/<name>.png``, 8-bit, 640 px on the
longer side with the design's aspect ratio): where an image has one, it is the sample's
``saliency_map`` (``map_kind`` "distributed"), resized to the image; elsewhere the map is the
click density.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from salmap.data.base import Record, SaliencyDataset
from salmap.data.fixations import stack_subjects
from salmap.data.images import load_map, resize_array
from salmap.data.matfiles import load_mat, struct_field
from salmap.errors import DataError

VARIABLE = "bubble"
# image folder -> folder of the distributed maps of those images (same stem, .png)
MAP_FOLDERS = {"targets_gdi": "gdi-official"}
# the maps are stored at another size: an aspect ratio further off than this is an error
ASPECT_TOLERANCE = 0.02


def _is_bubbleview_mat(path: Path) -> bool:
    """Whether ``path`` is a .mat file with a ``bubble`` variable (reads its header only)."""
    import scipy.io

    if path.suffix.lower() != ".mat" or not path.is_file():
        return False
    try:
        return any(name == VARIABLE for name, _, _ in scipy.io.whosmat(path))
    except (ValueError, TypeError, OSError, NotImplementedError):
        return False


def _text(value) -> str:
    return str(np.asarray(value).ravel()[0]) if np.size(value) else ""


def _clicks(viewer, where: str) -> np.ndarray:
    enc = np.asarray(struct_field(struct_field(viewer, "fixations", where), "enc", where), float)
    if enc.size % 2:
        raise DataError(f"{where}: fixations.enc should be N x 2 (x, y), not {enc.shape}")
    # MATLAB stores an empty click list as 0 x 0 and a single click as 1 x 2
    return enc.reshape(-1, 2)


class BubbleView(SaliencyDataset):
    format = "bubbleview"

    @staticmethod
    def find_root(path: Path) -> Path | None:
        """The .mat file itself, or a folder of BubbleView files (which :meth:`open` refuses
        with the list of files to choose from)."""
        if path.is_dir():
            found = any(_is_bubbleview_mat(p) for p in path.glob("*.mat"))
            return path if found else None
        return path if _is_bubbleview_mat(path) else None

    @classmethod
    def open(cls, path: str | Path, **kwargs) -> BubbleView:
        path = Path(path)
        if path.is_dir():
            names = sorted(p.name for p in path.glob("*.mat") if _is_bubbleview_mat(p))
            if not names:
                raise DataError(f"{path}: not BubbleView: no .mat file with a 'bubble' variable")
            raise DataError(
                f"{path}: BubbleView keeps one data set per .mat file; pass one of "
                f"{', '.join(names)} (for example {path / names[0]})"
            )
        folder = path.parent  # impath is relative to it
        entries = load_mat(path, VARIABLE)[VARIABLE]
        if entries.dtype.names is None or entries.size == 0:
            raise DataError(f"{path}: 'bubble' should be a struct array, one entry per image")
        records, problems, n_subjects, seen = [], [], 0, set()
        for i, entry in enumerate(entries.ravel()):
            where = f"{path}, bubble({i + 1})"
            img = folder / _text(struct_field(entry, "impath", where))
            if img == folder or not img.is_file():
                problems.append(f"{img}: missing (named in {where}); left out")
                continue
            if img.stem in seen:
                problems.append(f"{img}: named twice in {path}; the second entry is left out")
                continue
            viewers = np.asarray(struct_field(entry, "userdata", where)).ravel()
            clicks = [_clicks(v, f"{where}.userdata({j + 1})") for j, v in enumerate(viewers)]
            per_subject = [c for c in clicks if len(c)]
            if not per_subject:
                problems.append(f"{img}: no clicks from any viewer; left out")
                continue
            seen.add(img.stem)
            n_subjects = max(n_subjects, len(per_subject))
            maps = MAP_FOLDERS.get(img.parent.name)
            importance = None if maps is None else folder / maps / f"{img.stem}.png"
            if importance is not None and not importance.is_file():
                problems.append(f"{importance}: missing; the click density stands in for it")
                importance = None
            extra = {"fixations": per_subject, "importance": importance}
            records.append(Record(id=img.stem, image=img, extra=extra))
        # the data set is the file: messages and summaries name it rather than its folder
        ds = cls(path, records, problems, **kwargs)
        ds.n_subjects = n_subjects
        ds.index_files = [path] + [r.extra["importance"] for r in records if r.extra["importance"]]
        return ds

    def load_fixations(self, rec: Record, shape):
        return stack_subjects(rec.extra["fixations"])

    def sample(self, index: int, density: bool = True) -> dict:
        """As :meth:`SaliencyDataset.sample`, with the importance map, resized to the image,
        as the saliency map where the image has one."""
        importance = self.records[index].extra["importance"]
        sample = super().sample(index, density=density and importance is None)
        if importance is not None:
            shape = sample["image"].shape[:2]
            sample["saliency_map"] = self._importance(importance, sample["image_path"], shape)
            sample["map_kind"] = "distributed"
        return sample

    @staticmethod
    def _importance(path: Path, image_path: str, shape: tuple[int, int]) -> np.ndarray:
        """The map at ``path`` resized to the image's ``shape`` (H, W); a DataError where the
        two do not have the same aspect ratio (the map would be stretched)."""
        smap = load_map(path)
        h, w = shape
        if abs(smap.shape[1] / smap.shape[0] - w / h) > ASPECT_TOLERANCE * w / h:
            raise DataError(
                f"{path} is {smap.shape[1]}x{smap.shape[0]} but {image_path} is {w}x{h}: "
                "an importance map must have its image's aspect ratio"
            )
        return np.clip(resize_array(smap, (h, w)), 0.0, 1.0)
