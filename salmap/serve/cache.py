"""The model's outputs kept by the uploaded file's content, so one image costs one forward pass.

The page asks for three things about each image it is given (the map, its summary and the
crops), and API clients often ask for a map and then the crops or the shares of the same image.
:class:`PredictionCache` keys each model output (H x W at the model's input size, about 1 MB)
by the SHA-256 of the file's bytes: a request for bytes already seen, or being predicted at that
moment, awaits the same forward pass instead of starting another. It keeps the ``size`` most
recently used outputs; ``size`` 0 turns it off. A forward pass that fails is forgotten, so the
next request tries again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import numpy as np


class PredictionCache:
    def __init__(self, size: int = 32):
        if size < 0:
            raise ValueError("the cache size must be 0 or more")
        self.size = size
        self.entries: OrderedDict[str, asyncio.Future] = OrderedDict()
        self.hits = 0  # requests answered without a forward pass of their own (for /health)

    @staticmethod
    def key(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    async def get(self, data: bytes, predict: Callable[[], Awaitable[np.ndarray]]) -> np.ndarray:
        """The output for the file ``data``: the kept one, or ``await predict()``."""
        if self.size == 0:
            return await predict()
        key = self.key(data)
        task = self.entries.get(key)
        if task is not None and not (task.done() and (task.cancelled() or task.exception())):
            self.hits += 1
            self.entries.move_to_end(key)
        else:
            task = asyncio.ensure_future(predict())
            task.add_done_callback(lambda t, key=key: self._forget_failed(key, t))
            self.entries[key] = task
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        # shielded: a client that leaves does not cancel the pass others are waiting for
        return await asyncio.shield(task)

    def _forget_failed(self, key: str, task: asyncio.Future) -> None:
        if (task.cancelled() or task.exception() is not None) and self.entries.get(key) is task:
            del self.entries[key]
