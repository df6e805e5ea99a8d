"""Text and face cue maps of the images of a decoded sample cache, for the cross-validation of
issue 20's levers (``benchmarks/crossval.py --levers``): what draws the eye on designs and is
not in an ImageNet feature.

- Text: the probability map of PP-OCRv4's text detector, the ONNX file that the
  ``rapidocr_onnxruntime`` wheel carries (4.7 MB; nothing is downloaded), run on the cached
  padded frame enlarged to 768 px (the detector is trained on text at about that scale). Only
  the file is read: ``pip install --no-deps rapidocr_onnxruntime==1.4.4`` (its own
  dependencies would bring a second OpenCV).
- Faces: OpenCV's frontal-face Haar cascade (the class and its file come in the OpenCV 4.x
  wheels of the ``bench`` extra; 5.x dropped both), each detection filled as a box.

Both are averaged down to the readout's grid (stride 8) and kept beside the cache as
``cues-<size>.npy``: N x 2 (the image and its mirror image) x 2 (text, faces) x h x w float16,
built under a temporary name and renamed when complete.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DETECTOR_SIDE = 768  # a multiple of 32 and of the readout's grid


def text_session():
    from importlib.util import find_spec

    import onnxruntime as ort

    spec = find_spec("rapidocr_onnxruntime")  # its file only: importing it needs pyclipper
    if spec is None:
        raise SystemExit("the text cue needs: pip install --no-deps rapidocr_onnxruntime==1.4.4")
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / "models" / "ch_PP-OCRv4_det_infer.onnx"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def text_map(session, image: np.ndarray) -> np.ndarray:
    """The detector's text probability (0-1) at ``DETECTOR_SIDE`` square, from an RGB uint8
    image of any size (PaddleOCR's detector reads BGR, scaled to -1..1)."""
    from PIL import Image

    big = Image.fromarray(image).resize((DETECTOR_SIDE, DETECTOR_SIDE), Image.BILINEAR)
    x = np.asarray(big, dtype=np.float32)[:, :, ::-1] / 127.5 - 1.0
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    return session.run(None, {session.get_inputs()[0].name: x})[0][0, 0]


def face_cascade():
    """OpenCV's frontal-face cascade, as `salmap crop --keep-faces` loads it."""
    from salmap.faces import face_cascade

    return face_cascade()


def face_map(cascade, image: np.ndarray) -> np.ndarray:
    """1 inside every detected frontal face, 0 elsewhere, at the image's size."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    out = np.zeros(grey.shape, np.float32)
    for x, y, w, h in cascade.detectMultiScale(grey, 1.1, 5, minSize=(16, 16)):
        out[y : y + h, x : x + w] = 1.0
    return out


def pool(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Mean over equal blocks down to ``size`` (the sides must divide)."""
    h, w = size
    return m.reshape(h, m.shape[0] // h, w, m.shape[1] // w).mean(axis=(1, 3))


def cue_maps(cache, size: tuple[int, int], progress=None) -> np.ndarray:
    """Text and face maps of every cached image and of its mirror image, on a ``size`` grid."""
    path = cache.folder / f"cues-{size[0]}x{size[1]}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r")
    session, cascade = text_session(), face_cascade()
    n = len(cache)
    out = np.zeros((n, 2, 2, *size), np.float16)
    for i in progress(range(n), total=n) if progress else range(n):
        image = np.asarray(cache.images[i])
        text = pool(text_map(session, image), size)
        faces = pool(face_map(cascade, image), size)
        out[i, 0] = np.stack([text, faces])
        out[i, 1] = out[i, 0][:, :, ::-1]
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, out)
    tmp.replace(path)
    return np.load(path, mmap_mode="r")
