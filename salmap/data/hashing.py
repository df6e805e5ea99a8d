"""Telling images apart by content: exact file hashes and perceptual hashes.

Two uses: a trained model records the SHA-256 prefixes of its training images' files, so that
`salmap evaluate` recognises them wherever they come from (see :mod:`salmap.leakage`); and
near-duplicate images in one data set (the same photo re-encoded, such as OSIE's 1279.jpg and
1374.jpg, which carry different fixations) are found by a perceptual hash, so that the split
keeps them on one side and `salmap datasets info` reports them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.fft import dctn

# Hex digits of SHA-256 kept per file: 64 bits, so a chance collision among a million images
# has a probability of about 3e-8.
SHA_PREFIX = 16
# Perceptual hash: the 8 x 8 lowest frequencies of the DCT of a 32 x 32 grey image, each bit
# "above the median"; two images are near-duplicates within this many differing bits of 64.
# On NUS-Scene, OSIE and EyeCrowd together (1,700 images, 1.4 million pairs) the closest
# distinct photographs differ by 10 bits, and OSIE's re-encoded 1279/1374 by 0.
PHASH_SIZE = 32
PHASH_BITS = 8
NEAR_DUPLICATE_BITS = 6


def file_hash(path: str | Path) -> str:
    """The first :data:`SHA_PREFIX` hex digits of the SHA-256 of the file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:SHA_PREFIX]


def perceptual_hash(path: str | Path) -> int:
    """A 64-bit perceptual hash of an image file (DCT hash): equal or a few bits apart for the
    same picture re-encoded, resized or slightly recoloured."""
    with Image.open(path) as im:
        im.draft("L", (4 * PHASH_SIZE, 4 * PHASH_SIZE))  # JPEG: decode small, fast
        grey = im.convert("L").resize((PHASH_SIZE, PHASH_SIZE), Image.Resampling.BOX)
    low = dctn(np.asarray(grey, dtype=np.float64), norm="ortho")[:PHASH_BITS, :PHASH_BITS]
    bits = (low > np.median(low.ravel()[1:])).ravel()  # the DC term left out of the median
    return int("".join("1" if b else "0" for b in bits), 2)


# Perceptual hashes by (path, size, modification time): a process splits the same data often,
# and training records, and evaluation checks, the hashes of images the split already hashed.
_CACHE: dict[tuple, int | None] = {}


def cached_perceptual_hash(path: str | Path) -> int | None:
    """:func:`perceptual_hash`, kept per file for the process; None for a file that cannot be
    read as an image (the readers report those)."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        try:
            _CACHE[key] = perceptual_hash(path)
        except (OSError, ValueError, SyntaxError):  # what Pillow raises on a broken file
            _CACHE[key] = None
    return _CACHE[key]


def bit_distances(hashes: np.ndarray, h) -> np.ndarray:
    """Differing bits between each of ``hashes`` (uint64 array) and ``h``."""
    x = np.bitwise_xor(hashes, np.uint64(h))
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


def near_duplicate_groups(
    hashes: Sequence[int], max_bits: int = NEAR_DUPLICATE_BITS
) -> list[list[int]]:
    """Groups (lists of indices, ascending, two or more each) of items whose perceptual hashes
    are within ``max_bits`` of another member's (linked transitively)."""
    h = np.array(hashes, dtype=np.uint64)
    parent = list(range(len(h)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(h) - 1):
        for j in np.flatnonzero(bit_distances(h[i + 1 :], h[i]) <= max_bits) + i + 1:
            parent[root(int(j))] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(h)):
        groups.setdefault(root(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]
