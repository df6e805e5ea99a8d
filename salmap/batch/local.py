"""The local engine: a job's items predicted batch by batch in this process, decoding and
writing in two threads. The Ray engine's actors run it on their share of the items.

A job (:class:`Job`) says what to do with each item: how to read it, what to write once its
map is known and which line (of ``manifest.jsonl``, of ``crops.jsonl``) records it, or records
its error. ``salmap predict`` and ``salmap crop`` are two jobs; the engine knows neither.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Protocol

import numpy as np


class Job(Protocol):
    """What the engines do with each of ``items`` (each has a ``path``)."""

    items: list
    desc: str  # the progress bar's label: "predicting", "cropping"

    def read(self, k: int, config):
        """Item ``k`` as :func:`salmap.inference.read_input` gives it for a model of
        ``config``: ``(rgb or None, model input, geometry)``."""

    def write(self, k: int, image: np.ndarray | None, density: np.ndarray) -> dict:
        """Write item ``k``'s outputs (runs in a writer thread); its line."""

    def failed(self, k: int, message: str) -> dict:
        """The line of item ``k``, which could not be read or predicted."""


def error_text(image, error: Exception) -> str:
    """The error, naming the file when the image was one."""
    text = str(error)
    if isinstance(image, (str, os.PathLike)) and str(image) not in text:
        return f"{image}: {text}"
    return text


def run_items(job: Job, runner, batch_size: int, lines: dict, progress: bool = True) -> None:
    """Predict every item of ``job`` with ``runner``, ``batch_size`` at a time, and write its
    outputs; ``lines[k]`` gets item ``k``'s line as soon as its files are written (so that an
    interrupted run still knows what it did). At most about ``2 * batch_size`` images wait to
    be written at any time."""
    from tqdm import tqdm

    from salmap.inference import predict_stream

    def read(k: int):
        return job.read(k, runner.config)

    writes = []
    with (
        ThreadPoolExecutor(2) as pool,
        tqdm(total=len(job.items), desc=job.desc, unit="img", disable=not progress) as bar,
    ):
        results = predict_stream(runner, range(len(job.items)), batch_size, pool, read)
        for k, (image, density) in enumerate(results):
            if isinstance(density, Exception):
                lines[k] = job.failed(k, error_text(job.items[k].path, density))
            else:
                writes.append((k, pool.submit(job.write, k, image, density)))
                if len(writes) > 2 * batch_size:  # bound the images held in memory
                    j, w = writes.pop(0)
                    lines[j] = w.result()
            bar.update(1)
        for j, w in writes:
            lines[j] = w.result()


class Summary(NamedTuple):
    """What a batch run did: images done, why the others were skipped, how many an earlier run
    had done (kept), and the files the inputs' folders held that were not images, in words."""

    done: int
    skipped: list[str]
    kept: int = 0
    ignored: str = ""
