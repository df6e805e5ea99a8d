"""Small replicas of the CAT2000, MIT1003, SALICON, OSIE, EyeCrowd and BubbleView layouts, built
from the bundled real NUS-Scene images and fixations: same folder names, file types and .mat
variables."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from salmap.data import NUS_MINI, fixation_map, open_dataset


def _samples(n: int):
    ds = open_dataset(NUS_MINI)
    for i in range(min(n, len(ds))):
        yield ds[i]


def _save_map(density: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.uint8(np.round(255 * density / density.max()))).save(path, quality=95)


def make_cat2000(root: Path, categories=("Action", "Indoor"), per_category: int = 3) -> Path:
    """``trainSet/`` with Stimuli, FIXATIONMAPS, FIXATIONLOCS (fixLocs) and an Output folder."""
    base = root / "trainSet"
    samples = list(_samples(len(categories) * per_category))
    for k, sample in enumerate(samples):
        cat, stem = categories[k // per_category], f"{k % per_category + 1:03d}"
        img = base / "Stimuli" / cat / f"{stem}.jpg"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sample["image"]).save(img, quality=92)
        _save_map(sample["saliency_map"], base / "FIXATIONMAPS" / cat / f"{stem}.jpg")
        locs = base / "FIXATIONLOCS" / cat / f"{stem}.mat"
        locs.parent.mkdir(parents=True, exist_ok=True)
        binary = fixation_map(sample["fixations"], sample["image"].shape[:2]).astype(np.uint8)
        scipy.io.savemat(locs, {"fixLocs": binary})
    for cat in categories:  # clutter the distribution has
        (base / "Stimuli" / cat / "Output").mkdir()
        (base / "Stimuli" / cat / "Thumbs.db").write_bytes(b"\0")
    return base


def make_mit1003(root: Path, n: int = 4) -> Path:
    base = root / "MIT1003"
    for k, sample in enumerate(_samples(n)):
        stem = f"i{k:04d}"
        img = base / "ALLSTIMULI" / f"{stem}.jpeg"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sample["image"]).save(img, quality=92)
        maps = base / "ALLFIXATIONMAPS"
        _save_map(sample["saliency_map"], maps / f"{stem}_fixMap.jpg")
        binary = fixation_map(sample["fixations"], sample["image"].shape[:2])
        # the distribution's one file without the underscore
        pts = maps / (f"{stem}fixPts.jpg" if k == 1 else f"{stem}_fixPts.jpg")
        Image.fromarray(np.uint8(binary) * 255).save(pts, quality=95)
    return base


def make_salicon(root: Path, n_train: int = 3, n_val: int = 2, n_test: int = 1) -> Path:
    samples = list(_samples(n_train + n_val + n_test))
    splits = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    for k, (sample, split) in enumerate(zip(samples, splits)):
        stem = f"COCO_{split}2014_{k:012d}"
        img = root / "images" / split / f"{stem}.jpg"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sample["image"]).save(img, quality=92)
        if split == "test":
            continue
        _save_map(sample["saliency_map"], root / "maps" / split / f"{stem}.png")
        subjects = sample["subjects"]
        gaze = np.zeros(
            (len(np.unique(subjects)), 1),
            dtype=[(f, "O") for f in ("location", "timestamp", "fixations")],
        )
        for j, s in enumerate(np.unique(subjects)):
            pixel = np.floor(sample["fixations"][subjects == s]) + 1  # 1-based pixel indices
            gaze[j, 0] = (pixel, np.arange(len(pixel))[:, None], pixel)
        mat = root / "fixations" / split / f"{stem}.mat"
        mat.parent.mkdir(parents=True, exist_ok=True)
        h, w = sample["image"].shape[:2]
        scipy.io.savemat(mat, {"image": stem, "resolution": np.array([h, w]), "gaze": gaze})
    return root


def copy_folder_dataset(root: Path) -> Path:
    return Path(shutil.copytree(NUS_MINI, root / "mini"))


def make_osie(root: Path, n: int = 4) -> Path:
    """``data/stimuli/<n>.jpg`` and ``data/eye/fixations.mat``: a cell array of structs (``img``,
    ``subjects``: a cell array of structs with ``fix_x``, ``fix_y``, ``fix_duration``)."""
    return _fixations_mat_layout(root / "data", [f"{1001 + k}.jpg" for k in range(n)])


def make_eyecrowd(root: Path, n: int = 4) -> Path:
    """OSIE's layout with EyeCrowd's names (``001.jpg`` ...) and its face labels,
    ``labels.mat`` (variable ``labels``: one struct per image with ``img``, ``nFaces``,
    ``faces``)."""
    names = [f"{k + 1:03d}.jpg" for k in range(n)]
    base = _fixations_mat_layout(root / "data", names)
    labels = np.array(
        [(name, 1, np.array([[10, 10, 40, 40]])) for name in names],
        dtype=[("img", "O"), ("nFaces", "O"), ("faces", "O")],
    ).reshape(n, 1)
    scipy.io.savemat(base / "labels.mat", {"labels": labels})
    return base


def _fixations_mat_layout(base: Path, names: list[str]) -> Path:
    (base / "stimuli").mkdir(parents=True)
    (base / "eye").mkdir()
    cells = np.empty((len(names), 1), dtype=object)
    for k, sample in enumerate(_samples(len(names))):
        name = names[k]
        Image.fromarray(sample["image"]).save(base / "stimuli" / name, quality=92)
        subjects = np.unique(sample["subjects"])
        per_subject = np.empty((len(subjects), 1), dtype=object)
        for j, s in enumerate(subjects):
            xy = sample["fixations"][sample["subjects"] == s]
            per_subject[j, 0] = np.array(
                [(xy[None, :, 0], xy[None, :, 1], np.full((1, len(xy)), 250.0))],
                dtype=[("fix_x", "O"), ("fix_y", "O"), ("fix_duration", "O")],
            ).reshape(1, 1)
        cells[k, 0] = np.array(
            [(name, per_subject)], dtype=[("img", "O"), ("subjects", "O")]
        ).reshape(1, 1)
    scipy.io.savemat(base / "eye" / "fixations.mat", {"fixations": cells})
    return base


def _viewer(clicks: np.ndarray) -> tuple:
    """One ``userdata`` entry: ``fixations`` with ``enc`` (N x 2 x, y; MATLAB's 0 x 0 when
    empty), ``rec`` (empty) and ``enc_time`` (one timestamp string per click)."""
    enc = clicks if len(clicks) else np.zeros((0, 0))
    times = np.array([f"2016-04-26 18:49:{k % 60:02d}" for k in range(len(clicks))], dtype=object)
    fixations = np.array(
        [(enc, np.zeros((0, 0)), times.reshape(-1, 1))],
        dtype=[("enc", "O"), ("rec", "O"), ("enc_time", "O")],
    ).reshape(1, 1)
    return (fixations,)


def make_bubbleview(root: Path, n: int = 4) -> Path:
    """A BubbleView folder: ``designs.mat`` on ``targets_gdi/`` with GDI-style importance maps in
    ``gdi-official/`` (8-bit PNG, 640 px on the longer side), and ``photos.mat`` on
    ``targets_osie/`` without maps. Each holds ``bubble``, a 1 x n struct array (``filename``,
    ``impath``, ``userdata``: one struct per viewer). Each NUS-Scene observer is a viewer; a
    last viewer has no clicks, and in ``designs.mat`` the first viewer's first click is a
    single 1 x 2 row on image 2."""
    base = root / "bubbleview"
    samples = list(_samples(n))
    for mat, folder in (("designs.mat", "targets_gdi"), ("photos.mat", "targets_osie")):
        entries = np.empty((1, n), dtype=[("filename", "O"), ("impath", "O"), ("userdata", "O")])
        for k, sample in enumerate(samples):
            name = f"{folder[8:]}_{k:02d}.jpg"
            img = base / folder / name
            img.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(sample["image"]).save(img, quality=92)
            per_viewer = [
                sample["fixations"][sample["subjects"] == s] for s in np.unique(sample["subjects"])
            ]
            if mat == "designs.mat" and k == 1:
                per_viewer[0] = per_viewer[0][:1]
            per_viewer.append(np.zeros((0, 2)))
            users = np.array([_viewer(c) for c in per_viewer], dtype=[("fixations", "O")])
            entries[0, k] = (name, f"{folder}/{name}", users.reshape(1, -1))
            if folder == "targets_gdi":
                h, w = sample["image"].shape[:2]
                size = (640, round(640 * h / w)) if w >= h else (round(640 * w / h), 640)
                density = sample["saliency_map"]
                grey = Image.fromarray(np.uint8(np.round(255 * density / density.max())))
                (base / "gdi-official").mkdir(exist_ok=True)
                grey.resize(size, Image.BILINEAR).save(base / "gdi-official" / f"{img.stem}.png")
        scipy.io.savemat(base / mat, {"bubble": entries})
    return base
