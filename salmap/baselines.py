"""Baselines that every score is read between: a floor, the centre bias, and a ceiling.

- :func:`uniform`: no preference at all (the floor: AUC 0.5, NSS 0, CC 0).
- :func:`centre_gaussian`: the fixed isotropic centre bias of NUS-Scene's reference table, a
  Gaussian at the image centre with sigma a fraction of each side.
- :class:`CentreBias`: a Gaussian fitted to training fixations in image-relative coordinates
  (x / width, y / height), so one fit serves images of any size; saved as a small JSON.
- :func:`leave_one_subject_out` and :func:`split_halves`: the inter-observer gold standard,
  each observer's fixations predicted by the density of the others' (the ceiling a model can
  hope for). Needs the observer of each fixation; datasets distributed as binary fixation maps
  (CAT2000, MIT1003) have none.

Maps are H x W float32 summing to 1; coordinates follow :mod:`salmap.data.fixations`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from salmap.data.fixations import DENSITY_SIGMA, density_map, first_of_each
from salmap.files import atomic_write_bytes

# The reference table's fixed centre bias: sigma = 0.25 of each side.
CENTRE_SIGMA = 0.25

NO_SUBJECTS = (
    "the inter-observer gold standard needs the observer of each fixation, and these fixations "
    "have no subject ids (datasets distributed as binary fixation maps, such as CAT2000 and "
    "MIT1003, do not record them; a folder dataset can give a 'subject' column)"
)


def _shape(shape) -> tuple[int, int]:
    h, w = (int(v) for v in tuple(shape)[:2])
    if h < 1 or w < 1:
        raise ValueError(f"a map needs a positive size, got {shape}")
    return h, w


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in image-relative coordinates: (x of each column, y of each row)."""
    h, w = shape
    return (np.arange(w) + 0.5) / w, (np.arange(h) + 0.5) / h


def uniform(shape) -> np.ndarray:
    """The uniform map of ``shape`` = (H, W): every pixel 1 / (H W)."""
    h, w = _shape(shape)
    return np.full((h, w), 1.0 / (h * w), dtype=np.float32)


def centre_gaussian(shape, sigma: float = CENTRE_SIGMA) -> np.ndarray:
    """An isotropic Gaussian at the image centre, in image-relative coordinates: standard
    deviation ``sigma`` times the width horizontally and times the height vertically.
    H x W float32 summing to 1."""
    h, w = _shape(shape)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    x, y = _grid((h, w))
    gx = np.exp(-0.5 * ((x - 0.5) / sigma) ** 2)
    gy = np.exp(-0.5 * ((y - 0.5) / sigma) ** 2)
    m = np.outer(gy, gx)
    return (m / m.sum()).astype(np.float32)


def predict_uniform(image: np.ndarray) -> np.ndarray:
    """Predictor interface (H x W x 3 image -> H x W map) for :func:`uniform`."""
    return uniform(np.shape(image)[:2])


def predict_centre(image: np.ndarray) -> np.ndarray:
    """Predictor interface for the fixed :func:`centre_gaussian`."""
    return centre_gaussian(np.shape(image)[:2])


# -- a centre bias fitted to fixations ---------------------------------------------------------
@dataclass(frozen=True)
class CentreBias:
    """A 2-D Gaussian over image-relative coordinates (x / width, y / height).

    ``mean`` is (x, y); ``cov`` the 2 x 2 covariance in the same units, rows and columns (x, y).
    """

    mean: tuple[float, float]
    cov: tuple[tuple[float, float], tuple[float, float]]
    images: int = 0
    fixations: int = 0

    @classmethod
    def fit(cls, relative: Iterable[np.ndarray | None]) -> CentreBias:
        """Fit to per-image fixations in relative coordinates (N_i x 2 arrays, None or empty
        for images without any). Every image weighs the same, however many fixations it has,
        so that a few heavily viewed images do not set the bias."""
        per_image = [
            np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in relative if r is not None
        ]
        per_image = [r for r in per_image if len(r)]
        if not per_image:
            raise ValueError("no fixations to fit a centre bias to")
        points = np.concatenate(per_image)
        weights = np.concatenate([np.full(len(r), 1.0 / len(r)) for r in per_image])
        weights /= weights.sum()
        mean = weights @ points
        d = points - mean
        cov = (d * weights[:, None]).T @ d
        cov += np.eye(2) * 1e-6  # a single fixation still gives a proper Gaussian
        return cls(
            mean=(float(mean[0]), float(mean[1])),
            cov=((float(cov[0, 0]), float(cov[0, 1])), (float(cov[1, 0]), float(cov[1, 1]))),
            images=len(per_image),
            fixations=len(points),
        )

    def map(self, shape) -> np.ndarray:
        """The bias at ``shape`` = (H, W): H x W float32 summing to 1."""
        h, w = _shape(shape)
        x, y = _grid((h, w))
        inv = np.linalg.inv(np.array(self.cov))
        dx, dy = x[None, :] - self.mean[0], y[:, None] - self.mean[1]
        q = inv[0, 0] * dx**2 + 2 * inv[0, 1] * dx * dy + inv[1, 1] * dy**2
        m = np.exp(-0.5 * (q - q.min()))
        return (m / m.sum()).astype(np.float32)

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Predictor interface: the bias at the image's size."""
        return self.map(np.shape(image)[:2])

    def to_dict(self) -> dict:
        return {"kind": "centre-bias", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> CentreBias:
        mean, cov = d["mean"], d["cov"]
        return cls(
            mean=(float(mean[0]), float(mean[1])),
            cov=((float(cov[0][0]), float(cov[0][1])), (float(cov[1][0]), float(cov[1][1]))),
            images=int(d.get("images", 0)),
            fixations=int(d.get("fixations", 0)),
        )

    def save(self, path: str | Path) -> None:
        atomic_write_bytes(Path(path), (json.dumps(self.to_dict(), indent=2) + "\n").encode())

    @classmethod
    def load(cls, path: str | Path) -> CentreBias:
        return cls.from_dict(json.loads(Path(path).read_text()))


def relative_fixations(dataset, drop_first: bool = False) -> list[np.ndarray | None]:
    """Each image's fixations in relative coordinates (x / width, y / height), N x 2, or None
    where it has none (``drop_first``: each observer's first fixation left out, where the
    observers are known). Reads fixation files and image headers only, no pixels."""
    out: list[np.ndarray | None] = []
    for i in range(len(dataset)):
        shape = dataset.image_size(i)
        fix, subjects, _ = dataset.fixations_inside(i, shape)
        if drop_first and fix is not None and subjects is not None:
            fix = fix[~first_of_each(subjects)]
        out.append(None if fix is None else fix / np.array([shape[1], shape[0]], dtype=np.float64))
    return out


def fit_centre_bias(dataset) -> CentreBias:
    """A :class:`CentreBias` fitted to all fixations of ``dataset`` (pass its train split)."""
    return CentreBias.fit(relative_fixations(dataset))


# -- the inter-observer gold standard ----------------------------------------------------------
def _by_subject(fixations, subjects) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if subjects is None:
        raise ValueError(NO_SUBJECTS)
    fix = np.asarray(fixations, dtype=np.float64).reshape(-1, 2)
    subjects = np.asarray(subjects)
    if len(subjects) != len(fix):
        raise ValueError(f"{len(fix)} fixations but {len(subjects)} subject ids")
    return fix, subjects, np.unique(subjects)


def leave_one_subject_out(
    fixations: np.ndarray, subjects: np.ndarray, shape, sigma: float = DENSITY_SIGMA
) -> Iterator[tuple[object, np.ndarray, np.ndarray]]:
    """For each observer: (subject id, their fixations, the density of everyone else's).

    ``fixations`` N x 2 inside the image of ``shape``, ``subjects`` N ids; the densities use
    :func:`~salmap.data.fixations.density_map` with ``sigma``. Yields nothing with fewer than
    two observers.
    """
    fix, subjects, ids = _by_subject(fixations, subjects)
    if len(ids) < 2:
        return
    for s in ids:
        held = subjects == s
        yield s, fix[held], density_map(fix[~held], shape, sigma)


def split_halves(
    fixations: np.ndarray, subjects: np.ndarray, shape, sigma: float = DENSITY_SIGMA
) -> tuple[np.ndarray, np.ndarray]:
    """The densities of two halves of the observers (sorted ids alternating between them), for
    the inter-observer CC, SIM and KLD. A ValueError with fewer than two observers."""
    fix, subjects, ids = _by_subject(fixations, subjects)
    if len(ids) < 2:
        raise ValueError(f"split halves need at least two observers, got {len(ids)}")
    first = np.isin(subjects, ids[0::2])
    return density_map(fix[first], shape, sigma), density_map(fix[~first], shape, sigma)
