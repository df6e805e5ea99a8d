"""The rows of ``salmap compare``'s figure (:func:`salmap.viz.comparison_figure`): images
(files, or the first of a dataset's split with its human fixations), each beside the maps of
several models and of folders of maps made elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from salmap.errors import SalmapError


def image_rows(paths: list[str]) -> list[dict]:
    """One row per image file: ``image`` (H x W x 3 uint8), ``title``, ``id`` (its stem)."""
    from salmap.data import load_image

    return [{"image": load_image(p), "title": Path(p).name, "id": Path(p).stem} for p in paths]


def dataset_rows(data: str, format: str | None, split: str, n: int) -> list[dict]:
    """The first ``n`` images of ``split`` of the dataset at ``data`` (fewer when the split
    is smaller), with their ``density`` and ``fixations``."""
    from salmap.data import open_dataset

    ds = open_dataset(data, format).split(split)
    return [sample_row(ds[i]) for i in range(min(n, len(ds)))]


def sample_row(sample: dict) -> dict:
    """The row of a dataset sample: its image, human ``density`` and ``fixations``."""
    return {
        "image": sample["image"],
        "density": sample["saliency_map"],
        "fixations": sample["fixations"],
        "title": sample["id"],
        "id": sample["id"],
    }


def add_maps(rows: list[dict], models=(), predictions=()) -> None:
    """Give each row its ``maps``: each model's (shipped names, folders, files), then each
    prediction folder's, at the image's resolution."""
    from salmap import load_model
    from salmap.evaluate import PredictionFolder

    for row in rows:
        row["maps"] = []
    for model_path in models:
        model = load_model(model_path)
        for row, smap in zip(rows, model.predict_batch([r["image"] for r in rows])):
            row["maps"].append(smap)
    for folder in predictions:
        preds = PredictionFolder(folder)
        for row in rows:
            row["maps"].append(folder_map(preds, row))


def folder_map(preds, row: dict) -> np.ndarray:
    """A prediction folder's map for one figure row, at the image's size (same aspect)."""
    from salmap import metrics as M
    from salmap.evaluate import check_prediction

    smap = preds.load(row["id"])
    if smap is None:
        raise SalmapError(f"{preds.folder}: no prediction for {row['id']}")
    shape = row["image"].shape[:2]
    try:
        check_prediction(smap, shape)
    except ValueError as e:
        raise SalmapError(f"{preds.find(row['id'])}: {e}") from None
    return np.asarray(M.resize_to(np.asarray(smap, np.float64), shape), np.float32)
