"""`salmap crop --keep-faces`: which faces a window keeps, leaving the others out whole, and
the detector on faces that people labelled (EyeCrowd's labels.mat)."""

import itertools
import json
import sys

import numpy as np
import pytest
import scipy.io as sio

from salmap.cli import main
from salmap.cropping import Window, holds, keep_origins
from salmap.errors import SalmapError
from salmap.faces import detect_faces, face_cascade, faces_that_fit, inside, uncut


def cuts(window, face) -> bool:
    """Whether ``window``'s edges run through ``face`` (it overlaps it without holding it)."""
    overlap = not (
        face[2] <= window[0] or face[0] >= window[2] or face[3] <= window[1] or face[1] >= window[3]
    )
    return overlap and not inside(face, window)


def test_faces_that_fit_keeps_the_largest_first_and_the_users_boxes_always():
    image = (100, 40)  # a 1:1 window is 40 x 40
    faces = [(0, 0, 10, 10), (70, 0, 90, 20), (50, 0, 60, 10)]  # small, large, middle
    fits = lambda boxes: holds(boxes, image, "1:1")  # noqa: E731
    assert faces_that_fit(faces, [], fits) == [(70, 0, 90, 20), (50, 0, 60, 10)]
    # a box of the user's stays, and the faces that fit beside it are added
    assert faces_that_fit(faces, [(0, 0, 5, 5)], fits) == [(0, 0, 5, 5), (0, 0, 10, 10)]
    assert faces_that_fit([], [(1, 1, 2, 2)], fits) == [(1, 1, 2, 2)]


@pytest.mark.parametrize("seed", range(6))
def test_uncut_moves_to_the_nearest_window_that_cuts_no_face(seed):
    """Brute force on small images: the window found cuts none of the faces where such a
    window exists, and none that cuts none lies nearer to where it was."""
    rng = np.random.default_rng(seed)
    width, height = 30, 20
    density = rng.random((height, width)).astype(np.float32)
    faces = []
    for _ in range(3):
        x, y = rng.integers(0, width - 4), rng.integers(0, height - 4)
        faces.append((float(x), float(y), float(x + rng.integers(2, 5)), float(y + 3)))
    w, h = 12, 12
    origins = keep_origins((), (width, height), "1:1", 12 / 20)
    x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    start = Window((x0, y0, x0 + w, y0 + h), 0.0)
    moved = uncut(start, faces, origins, density, (width, height))
    whole = [
        (x, y)
        for x, y in itertools.product(range(width - w + 1), range(height - h + 1))
        if not any(cuts((x, y, x + w, y + h), f) for f in faces)
    ]
    if not whole or (x0, y0) in whole:
        assert moved == start
        return
    mx, my = moved.box[:2]
    assert (mx, my) in whole
    assert (mx - x0) ** 2 + (my - y0) ** 2 == min((x - x0) ** 2 + (y - y0) ** 2 for x, y in whole)
    expected = density[my : my + h, mx : mx + w].sum() / density.sum()
    assert moved.attention == pytest.approx(expected, rel=1e-5)


def test_a_missing_opencv_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(SalmapError, match=r"pip install 'salmap\[faces\]'"):
        face_cascade()


def test_no_face_in_a_smooth_picture():
    pytest.importorskip("cv2")
    y, x = np.mgrid[0:300, 0:400]
    picture = np.dstack([x * 255 // 399, y * 255 // 299, np.full_like(x, 128)]).astype(np.uint8)
    assert detect_faces(face_cascade(), picture) == []


def labelled_faces(eyecrowd, name: str) -> list[tuple]:
    rows = sio.loadmat(eyecrowd / "labels.mat", squeeze_me=True, struct_as_record=False)
    row = next(r for r in rows["labels"] if str(r.img) == name)
    return [(f.left, f.top, f.left + f.width, f.top + f.height) for f in np.atleast_1d(row.faces)]


def test_the_faces_found_are_faces_people_labelled(eyecrowd):
    pytest.importorskip("cv2")
    from salmap.data.images import load_image

    labelled = labelled_faces(eyecrowd, "004.jpg")  # a group photo: 12 people facing the camera
    found = detect_faces(face_cascade(), load_image(eyecrowd / "stimuli" / "004.jpg"))
    assert len(found) >= 8
    for x0, y0, x1, y1 in found:
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        assert any(b[0] <= centre[0] <= b[2] and b[1] <= centre[1] <= b[3] for b in labelled)


def test_crop_keep_faces_holds_the_faces_and_cuts_none(tiny_saved_model, eyecrowd, tmp_path):
    pytest.importorskip("cv2")
    out = tmp_path / "out"
    image = eyecrowd / "stimuli" / "004.jpg"
    args = ["crop", str(image), "--model", str(tiny_saved_model), "--out", str(out)]
    assert main([*args, "--aspect", "1:1,9:16", "--keep-faces"]) == 0
    line = json.loads((out / "crops.jsonl").read_text())
    faces = line["faces"]
    assert len(faces) >= 8
    square, tall = line["crops"]["1:1"], line["crops"]["9:16"]
    assert square["faces_kept"] == len(faces)  # the group fits in the 768 x 768 square
    assert 0 < tall["faces_kept"] < len(faces)  # not in a 432 px wide strip: the largest that fit
    for crop in (square, tall):
        assert not any(cuts(crop["box"], f) for f in faces)
        assert crop["faces_kept"] == sum(inside(f, crop["box"]) for f in faces)
