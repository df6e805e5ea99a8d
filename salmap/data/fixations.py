"""From fixation points to maps: binary fixation maps and Gaussian-blurred density maps.

Coordinates: a fixation is ``(x, y)`` in continuous pixel coordinates of its image, x to the
right and y down, where the pixel in column ``c`` and row ``r`` covers ``c <= x < c + 1`` and
``r <= y < r + 1``. Scaling an image by ``s`` scales its fixations by ``s``; flipping it
horizontally maps ``x`` to ``width - x``. A fixation on pixel ``(c, r)`` of a binary map is
therefore ``(c + 0.5, r + 0.5)``.
"""

from __future__ import annotations

import numpy as np

# Standard deviation of the Gaussian that turns fixations into a density map, as a fraction
# of the image's longer side: about one degree of visual angle in the benchmarks' set-ups
# (MIT300: 24 px at 1024 px = 0.023; CAT2000: 40 px at 1920 px = 0.021; NUS-Scene's reference
# figures use 0.025).
DENSITY_SIGMA = 0.025


def stack_subjects(per_subject: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One image's fixations of each observer (a list of N_j x 2 arrays) as one N x 2 array
    and the N observer numbers (the index in the list), in the list's order."""
    fix = np.concatenate([np.asarray(f, dtype=np.float64).reshape(-1, 2) for f in per_subject])
    subjects = np.concatenate([np.full(len(f), j) for j, f in enumerate(per_subject)])
    return fix, subjects


def split_inside(fixations: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the fixations that fall inside an image of ``shape`` = (H, W)."""
    fix = np.asarray(fixations, dtype=np.float64).reshape(-1, 2)
    h, w = shape
    x, y = fix[:, 0], fix[:, 1]
    inside = np.isfinite(x) & np.isfinite(y) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
    return inside


def drop_outside(fixations: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Keep the fixations inside the image; return them and how many were dropped."""
    fix = np.asarray(fixations, dtype=np.float64).reshape(-1, 2)
    inside = split_inside(fix, shape)
    return fix[inside], int((~inside).sum())


def pixel_indices(fixations: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the pixels hit by the fixations inside ``shape``; others are left out."""
    fix, _ = drop_outside(fixations, shape)
    return fix[:, 1].astype(np.int64), fix[:, 0].astype(np.int64)


def fixations_from_map(fixation_map: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Fixations (N x 2, x y at pixel centres) of the pixels of a binary map above threshold."""
    rows, cols = np.nonzero(np.asarray(fixation_map) > threshold)
    return np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float64)


def fixation_map(fixations: np.ndarray, shape: tuple[int, int], counts: bool = False) -> np.ndarray:
    """H x W map of the fixated pixels: 1 where fixated (bool), or the count per pixel."""
    rows, cols = pixel_indices(fixations, shape)
    out = np.zeros(shape, dtype=np.float32 if counts else bool)
    if counts:
        np.add.at(out, (rows, cols), 1.0)
    else:
        out[rows, cols] = True
    return out


def density_map(
    fixations: np.ndarray,
    shape: tuple[int, int],
    sigma: float = DENSITY_SIGMA,
    scale: tuple[float, float] = (1.0, 1.0),
    longer_side: float | None = None,
) -> np.ndarray:
    """Empirical fixation density: fixation counts blurred by a Gaussian, summing to 1.

    ``sigma`` is a fraction of the longer side of the image the fixations were recorded on
    (see :data:`DENSITY_SIGMA`). When the fixations have been scaled by ``scale`` = (sx, sy)
    into a resized frame of ``shape``, pass it and the original image's ``longer_side``: the
    blur is then the original one resized with them, so the density of a resized sample does
    not depend on the order of resizing and blurring. Fixations outside ``shape`` are ignored;
    with none inside, a ValueError is raised.

    The result equals ``scipy.ndimage.gaussian_filter(counts, sigma_px, mode="constant")``
    (kernel truncated at 4 sigma), computed as a sum of separable Gaussians, one per fixation:
    ``Gy @ Gx.T`` with Gy (H x N) and Gx (W x N), which costs O(H W N) rather than a
    convolution with a kernel as wide as the blur.
    """
    rows, cols = pixel_indices(fixations, shape)
    if len(rows) == 0:
        raise ValueError("no fixation inside the image: cannot make a density map")
    sx, sy = scale
    longer = max(shape) if longer_side is None else longer_side
    gy = _gaussian_columns(shape[0], rows, sigma * longer * sy)
    gx = _gaussian_columns(shape[1], cols, sigma * longer * sx)
    d = gy @ gx.T
    return (d / d.sum()).astype(np.float32)


def _gaussian_columns(
    n: int, centres: np.ndarray, sigma: float, truncate: float = 4.0
) -> np.ndarray:
    """n x len(centres): column j is scipy's 1-D Gaussian kernel (truncated at ``truncate``
    sigma and normalised over its support) centred on pixel ``centres[j]``, cut at the edges."""
    radius = int(truncate * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    norm = taps.sum()
    offset = np.arange(n)[:, None] - centres[None, :]
    k = np.exp(-0.5 * (offset / sigma) ** 2)
    k[np.abs(offset) > radius] = 0.0
    return k / norm


def first_of_each(subjects) -> np.ndarray:
    """A mask of each observer's first fixation: the first entry of each subject id (readers
    keep each observer's fixations in viewing order)."""
    subjects = np.asarray(subjects)
    mask = np.zeros(len(subjects), dtype=bool)
    mask[np.unique(subjects, return_index=True)[1]] = True
    return mask
