"""Reading images and saliency maps of any common format into plain numpy arrays.

Every reader here refuses bad input with a :class:`~salmap.errors.DataError` that names the
file: unreadable or truncated files, decompression bombs, unsupported modes.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from salmap.errors import DataError


def _pillow_extensions() -> frozenset[str]:
    """Every file extension Pillow can decode here (``.jfif``, ``.jpe``, ``.tif``, ...), less
    the formats it only identifies (HDF5, MPEG...) or needs Ghostscript for (EPS)."""
    from PIL import ImageFile

    def decodes(fmt: str) -> bool:
        factory = Image.OPEN.get(fmt, (None,))[0]
        stub = isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile)
        return factory is not None and not stub and fmt not in ("EPS", "MPEG")

    return frozenset(e for e, fmt in Image.registered_extensions().items() if decodes(fmt))


IMAGE_EXTENSIONS = _pillow_extensions()

# Images above this many pixels are refused before decoding (a 1920x1080 photo is 2 Mpx,
# a 50 Mpx camera image passes). Override with SALMAP_MAX_PIXELS.
MAX_PIXELS = int(os.environ.get("SALMAP_MAX_PIXELS", 120_000_000))
# Pillow's own guard would refuse at its smaller default before ours is consulted; ours governs.
Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, MAX_PIXELS)

# Transparent pixels are shown to the model over this background (RGB, 0-255).
BACKGROUND = (255, 255, 255)


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the file name has an image extension (case-insensitive) and is not hidden."""
    p = Path(path)
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


class NotAnImageError(DataError):
    """The data is not in any image format Pillow reads."""


class TooManyPixelsError(DataError):
    """The image is larger than :data:`MAX_PIXELS` (or a decompression bomb)."""


def _open(
    path: str | os.PathLike | io.BytesIO,
    min_side: int | None = None,
    frame: int = 0,
    name: str | None = None,
) -> Image.Image:
    """Open an image (a path, or bytes in memory named ``name`` in messages), check its pixel
    count, decode it fully and apply its EXIF orientation.

    With ``min_side``, a JPEG is decoded at 1/2, 1/4 or 1/8 scale (Pillow's draft mode) as long
    as its longer side stays at least ``min_side`` pixels: far less time and memory for camera
    images when the full resolution is not needed. ``frame`` picks a frame of a multi-frame
    file (GIF, TIFF, WebP...)."""
    if not isinstance(path, io.BytesIO):
        path = Path(path)
    label = name or path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
            im = Image.open(path)
    except (OSError, Image.DecompressionBombError) as e:
        raise open_error(label, path, e) from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise TooManyPixelsError(
            f"{label}: {w}x{h} is {w * h / 1e6:.0f} megapixels, more than the limit of "
            f"{MAX_PIXELS / 1e6:.0f} (set SALMAP_MAX_PIXELS to raise it)"
        )
    if w == 0 or h == 0:
        raise DataError(f"{label}: image has zero size ({w}x{h})")
    try:
        if frame:
            im.seek(frame)
        if min_side and im.format == "JPEG" and max(w, h) > min_side:
            s = min_side / max(w, h)
            im.draft(im.mode, (max(1, round(w * s)), max(1, round(h * s))))
        im.load()
        im = ImageOps.exif_transpose(im)
    except EOFError:
        raise DataError(f"{label}: has no frame {frame + 1}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{label}: truncated or corrupt image data ({e})") from None
    return im


def open_error(label, path, e: Exception) -> DataError:
    """The error, in words, for an image that Pillow could not open (``path``: the file, or
    bytes in memory)."""
    if isinstance(e, FileNotFoundError):
        return DataError(f"{label}: file not found")
    if isinstance(e, IsADirectoryError):
        return DataError(f"{label}: is a folder, not an image")
    if isinstance(e, Image.DecompressionBombError):
        return TooManyPixelsError(f"{label}: refused as a decompression bomb ({e})")
    if isinstance(e, UnidentifiedImageError):
        if not isinstance(path, io.BytesIO):  # (decode_image refuses empty bytes itself)
            with contextlib.suppress(OSError):
                if os.stat(path).st_size == 0:
                    return NotAnImageError(f"{label}: the file is empty (0 bytes)")
        return NotAnImageError(f"{label}: not an image file, or a format Pillow cannot read")
    return DataError(f"{label}: cannot be read ({e})")


def frame_count(path: str | os.PathLike) -> int:
    """How many frames (pages, animation frames) an image file holds, from its header."""
    try:
        with Image.open(path) as im:
            return int(getattr(im, "n_frames", 1))
    except (OSError, Image.DecompressionBombError) as e:
        raise open_error(path, path, e) from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) after EXIF orientation, read from the header without decoding pixels."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except (OSError, Image.DecompressionBombError) as e:
        raise open_error(path, path, e) from None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def _to_rgb(im: Image.Image, background: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit or float grayscale: scale the actual range into 8 bits
        return Image.fromarray(_high_bit_depth_to_uint8(np.asarray(im))).convert("RGB")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")
        under = Image.new("RGBA", im.size, tuple(background) + (255,))
        return Image.alpha_composite(under, im).convert("RGB")
    return im.convert("RGB")


def _full_scale(a: np.ndarray) -> float:
    """The value that means "full intensity" for an integer array: 255 for 8-bit data,
    65535 for 16-bit data (any value above 255 marks it as such)."""
    return 65535.0 if a.size and a.max() > 255 else 255.0


def _high_bit_depth_to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        a = np.nan_to_num(a.astype(np.float64))
        top = 1.0 if a.size and a.min() >= 0 and a.max() <= 1 else 255.0
    else:
        top = _full_scale(a)
    return np.clip(np.round(a.astype(np.float64) * 255.0 / top), 0, 255).astype(np.uint8)


def shrunk_as_drafted(rgb: np.ndarray, min_side: int) -> np.ndarray:
    """Decoded pixels shrunk as Pillow's draft mode decodes a JPEG of them (:func:`load_image`
    with ``min_side``): by 2, 4 or 8, each pixel the mean of a block, as long as the longer side
    stays at least ``min_side``; the array itself when no such shrink exists."""
    k = 1
    while k < 8 and max(rgb.shape[:2]) / (2 * k) >= min_side:
        k *= 2
    return rgb if k == 1 else np.asarray(Image.fromarray(rgb).reduce(k))


def load_image(
    path: str | os.PathLike,
    background: tuple[int, int, int] = BACKGROUND,
    min_side: int | None = None,
    frame: int = 0,
) -> np.ndarray:
    """Read an image as an H x W x 3 uint8 RGB array.

    Any mode Pillow reads is accepted: grayscale and 16-bit are expanded to RGB, palette and
    transparent images are composited over ``background`` (RGB 0-255), CMYK is converted, and
    the EXIF orientation is applied, so the array is the image as a viewer shows it. A JPEG may
    come back reduced, down to a longer side of ``min_side`` (see :func:`_open`); ``frame``
    picks a frame of a multi-frame file (the first by default).
    """
    return _rgb(_open(path, min_side, frame), path, background)


def decode_image(data: bytes, name: str = "upload") -> np.ndarray:
    """:func:`load_image` for a file's bytes in memory (an upload); ``name`` labels errors.
    The same pixel cap and decompression-bomb guard apply; nothing touches the disk."""
    if not data:
        raise DataError(f"{name}: the file is empty (0 bytes)")
    return _rgb(_open(io.BytesIO(data), name=name), name)


def _rgb(im: Image.Image, label, background: tuple[int, int, int] = BACKGROUND) -> np.ndarray:
    try:
        return np.array(_to_rgb(im, background), dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise DataError(f"{label}: cannot convert {im.mode} image to RGB ({e})") from None


def to_rgb_array(image, background: tuple[int, int, int] = BACKGROUND) -> np.ndarray:
    """Accept a path, a PIL image, or an H x W (x 1/3/4) array and return H x W x 3 uint8.

    Transparency is composited over ``background`` the same way for all three: an RGBA array
    (uint8, or floats in [0, 1]) gives the same map as the same image saved as a PNG."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image, background)
    if isinstance(image, Image.Image):
        return np.array(_to_rgb(ImageOps.exif_transpose(image), background), dtype=np.uint8)
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise DataError(f"expected an H x W x 3 image array, got shape {a.shape}")
    if a.dtype != np.uint8:
        a = _high_bit_depth_to_uint8(a)  # floats in [0, 1] or 0-255, 16-bit integers
    if a.shape[2] == 4:
        return np.array(_to_rgb(Image.fromarray(a, "RGBA"), background), dtype=np.uint8)
    return np.ascontiguousarray(a)


# Pillow modes a map is read in directly; any other (palette, RGB, CMYK...) becomes "L" first.
_GRAY_MODES = ("1", "L", "I", "F", "I;16", "I;16B", "I;16L")


def load_map(path: str | os.PathLike) -> np.ndarray:
    """Read a saliency map as an H x W float32 array in [0, 1].

    Image files are read as grayscale: 8-bit maps divided by 255, 16-bit ones by 65535, float
    (TIFF) maps kept as they are when in [0, 1]; palette and colour files are converted to
    grayscale first. ``.npy`` maps may have any non-negative scale and are divided by their
    maximum. NaN, infinite or negative values are refused.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot be read as a .npy array ({e})") from None
        if a.ndim != 2:
            raise DataError(f"{path}: a saliency map must be 2-D, this one has shape {a.shape}")
    else:
        im = _open(path)
        a = np.asarray(im if im.mode in _GRAY_MODES else im.convert("L"))
        if a.dtype == bool:
            return a.astype(np.float32)
        if a.dtype.kind != "f":
            return (a.astype(np.float64) / _full_scale(a)).astype(np.float32)
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise DataError(f"{path}: contains NaN or infinite values")
    if a.size and a.min() < 0:
        raise DataError(f"{path}: a saliency map cannot have negative values (min {a.min():g})")
    top = float(a.max()) if a.size else 0.0
    return a / top if top > 1.0 or (path.suffix.lower() == ".npy" and top > 0) else a


def resize_array(a: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Bilinear resize of a 2-D float array to ``shape`` = (H, W) (antialiased when shrinking)."""
    a = np.asarray(a, dtype=np.float32)
    if a.shape == tuple(shape):
        return a.copy()
    im = Image.fromarray(a, mode="F").resize((int(shape[1]), int(shape[0])), Image.BILINEAR)
    return np.array(im, dtype=np.float32)
