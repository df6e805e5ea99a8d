"""Validation CC, NSS and KLD in `salmap evaluate`'s frame, during training.

A map predicted at the model's input size is brought back to its image as inference does
(:func:`salmap.inference.restore`: padding cropped, resized to the image, divided by its sum)
and scored by :func:`salmap.evaluate.score_map` against the image's own ground truth (the
fixations and the density at the image's resolution, or at ``longer_side`` as evaluate's
``--longer-side``), so the logged figures are the ones `salmap evaluate --split val` prints for
the same weights. The ground truth is built once; images are scored in a thread pool while the
device computes the next batch.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from salmap.data.transforms import fit
from salmap.evaluate import Truth, ground_truth, rescale, score_map
from salmap.inference import restore

# What training logs (as val_<metric>, or val_<tag>_<metric> per data set): salmap.evaluate's
FRAME_METRICS = ("cc", "nss", "kld")


class FrameScorer:
    """Scores predictions of the images of ``part`` (a dataset split, in its order) in
    evaluate's frame. ``size`` and ``aspect`` are the model's input geometry."""

    def __init__(self, part, size, aspect: str, longer_side: int | None = None, workers=None):
        self.truths: list[Truth] = []
        self.geometries = []
        for i in range(len(part)):
            sample = part.sample(i, density=not longer_side)
            if longer_side:
                sample = rescale(sample, longer_side, part.sigma)
            truth = ground_truth(sample, None, part.sigma)
            truth.density = truth.density.astype(np.float32)  # half the memory, same scores
            self.truths.append(truth)
            self.geometries.append(fit(truth.shape, size, aspect))
        self.pool = ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1))
        self.pending: list[Future] = []

    def submit(self, indices, maps: np.ndarray) -> None:
        """Queue maps (B x H x W at the input size, any scale) of images ``indices``."""
        for i, m in zip(indices, maps):
            self.pending.append(self.pool.submit(self._score, int(i), m))

    def _score(self, i: int, prediction: np.ndarray) -> dict:
        density = restore(prediction, self.geometries[i])
        return score_map(density, self.truths[i], FRAME_METRICS)

    def collect(self) -> tuple[np.ndarray, np.ndarray]:
        """(sums, counts) per metric of :data:`FRAME_METRICS` over the images queued since the
        last call (a metric that cannot be computed for an image, e.g. NSS without fixations,
        is left out of its count)."""
        sums, counts = np.zeros(len(FRAME_METRICS)), np.zeros(len(FRAME_METRICS))
        for job in self.pending:
            for k, value in enumerate(job.result().values()):
                if value is not None:
                    sums[k] += value
                    counts[k] += 1
        self.pending = []
        return sums, counts

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
