"""The model's outputs kept by the uploaded file's content, so one image costs one forward pass.

The page asks for three things about each image it is given (the map, its summary and the
crops), and API clients often ask for a map and then the crops or the shares of the same image.
:class:`PredictionCache` keeps each model output (H x W at the model's input size, about 1 MB)
under the SHA-256 of the file's bytes (:meth:`PredictionCache.key`, computed off the event
loop by the caller): a request for bytes already seen, or being predicted at that moment,
awaits the same forward pass instead of starting another. It keeps the ``size`` most recently
used outputs; ``size`` 0 turns it off. A forward pass that fails is forgotten, so the next
request tries again; a request that leaves does not cancel a pass others are waiting for.
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

    @staticmethod
    def key(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    async def get(self, key: str, predict: Callable[[], Awaitable[np.ndarray]]) -> np.ndarray:
        """The output for the file whose :meth:`key` is ``key``: the kept one, or
        ``await predict()`` (whose result must not be changed afterwards: it is shared)."""
        if self.size == 0:
            return await predict()
        task = self.entries.pop(key, None)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.ensure_future(predict())
            task.add_done_callback(lambda t, key=key: self._forget_failed(key, t))
        self.entries[key] = task  # the most recently used, last
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return await asyncio.shield(task)

    def _forget_failed(self, key: str, task: asyncio.Future) -> None:
        if (task.cancelled() or task.exception() is not None) and self.entries.get(key) is task:
            del self.entries[key]
