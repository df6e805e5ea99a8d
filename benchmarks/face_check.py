"""How well the face cue of ``benchmarks/cue_maps.py`` (OpenCV's frontal-face Haar cascade)
finds the faces that EyeCrowd's authors labelled by hand (``labels.mat``: 9,778 boxes on 500
crowd scenes, each marked frontal, profile or back), run as the cue runs: on the image in the
model's 512 x 512 padded frame.

    python benchmarks/face_check.py ../shared/datasets/eyecrowd [--limit N]

Prints recall (a labelled face is found when a detection's centre lies inside its box), by
kind and by size in the 512 frame, and precision (a detection is right when its centre lies
inside some labelled box).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import scipy.io as sio
from cue_maps import face_cascade

from salmap.data.images import load_image
from salmap.data.transforms import fit, resize_image

FRAME = (512, 512)


def labelled(path: Path) -> dict[str, list[dict]]:
    rows = sio.loadmat(path, squeeze_me=True, struct_as_record=False)["labels"]
    out = {}
    for r in rows:
        faces = np.atleast_1d(r.faces) if int(r.nFaces) else []
        out[str(r.img)] = [
            {
                "box": (f.left, f.top, f.left + f.width, f.top + f.height),
                "kind": "frontal" if f.isFrontalFace else "profile" if f.isProfileFace else "back",
            }
            for f in faces
        ]
    return out


def detections(cascade, image: np.ndarray) -> list[tuple[float, float]]:
    """Centres of the detections, in the image's own pixels."""
    import cv2

    g = fit(image.shape[:2], FRAME, "pad")
    frame = resize_image(image, g)
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    (ox, oy), (_, cw) = g.offset, g.content
    scale = image.shape[1] / cw
    found = cascade.detectMultiScale(grey, 1.1, 5, minSize=(16, 16))
    return [((x + w / 2 - ox) * scale, (y + h / 2 - oy) * scale) for x, y, w, h in found]


def inside(p, box) -> bool:
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("eyecrowd", type=Path)
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()
    labels = labelled(args.eyecrowd / "labels.mat")
    cascade = face_cascade()
    found_by = {}  # (kind, size bin) -> [found, total]
    right = total_det = 0
    names = sorted(labels)[: args.limit]
    for name in names:
        image = load_image(args.eyecrowd / "stimuli" / name)
        dets = detections(cascade, image)
        scale = 512 / max(image.shape[:2])
        faces = labels[name]
        total_det += len(dets)
        right += sum(any(inside(d, f["box"]) for f in faces) for d in dets)
        for f in faces:
            side = (f["box"][3] - f["box"][1]) * scale
            size = "<16 px" if side < 16 else "16-32 px" if side < 32 else ">=32 px"
            cell = found_by.setdefault((f["kind"], size), [0, 0])
            cell[0] += any(inside(d, f["box"]) for d in dets)
            cell[1] += 1
    print(f"{len(names)} images, {total_det} detections, precision {right / max(total_det, 1):.2f}")
    print("| kind | height in the 512 frame | labelled | found |")
    print("|---|---|---:|---:|")
    for (kind, size), (hit, n) in sorted(found_by.items()):
        print(f"| {kind} | {size} | {n} | {hit / n:.0%} |")


if __name__ == "__main__":
    main()
