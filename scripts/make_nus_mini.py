"""Build salmap/data/nus_mini: a dozen NUS-Scene images, downscaled, with their fixations.

The images all come from the NUS-Scene validation split, so the shipped default model (trained
on the training split) has not seen them. Run from the repository root:

    python scripts/make_nus_mini.py ../shared/datasets/nus-scene
"""

import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from salmap.data import open_dataset

IDS = ["048", "078", "173", "174", "187", "192", "199", "204", "226", "258", "367", "436"]
LONGER_SIDE = 320
OUT = Path("salmap/data/nus_mini")


def main(source: str) -> None:
    ds = open_dataset(source, "nus-scene")
    assert set(IDS) <= set(ds.split("val").ids), "the examples must be validation images"
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    (OUT / "fixations").mkdir(exist_ok=True)
    for i, item_id in enumerate(ds.ids):
        if item_id not in IDS:
            continue
        sample = ds.sample(i, density=False)
        h, w = sample["image"].shape[:2]
        s = LONGER_SIDE / max(h, w)
        size = (round(w * s), round(h * s))
        Image.fromarray(sample["image"]).resize(size, Image.LANCZOS).save(
            OUT / "images" / f"{item_id}.jpg", quality=90
        )
        xy = sample["fixations"] * np.array([size[0] / w, size[1] / h])
        rows = np.column_stack([xy, sample["subjects"]])
        np.savetxt(
            OUT / "fixations" / f"{item_id}.csv",
            rows,
            fmt=["%.2f", "%.2f", "%d"],
            delimiter=",",
            header="x,y,subject",
            comments="",
        )
    shutil.copy(Path(source) / "LICENSE.txt", OUT / "LICENSE.txt")


if __name__ == "__main__":
    main(sys.argv[1])
