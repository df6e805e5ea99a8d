"""Batching concurrent requests into one forward pass, off the event loop.

Each request hands :meth:`Batcher.run` one prepared model input (3 x H x W float32; every input
of a model has the same size). A single worker task takes the first waiting input, keeps
collecting until it holds ``batch_size`` inputs or ``max_wait_ms`` have passed, and runs the
whole batch in one call of the runner on a dedicated thread, so the event loop keeps accepting
and decoding requests meanwhile. Inputs that arrive during a forward pass form the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from salmap.inference import Runner


class Batcher:
    def __init__(self, runner: Runner, batch_size: int = 8, max_wait_ms: float = 5.0):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.runner = runner
        self.batch_size = batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None
        # one thread: the model runs one batch at a time, and its own threads use the cores
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="salmap-model")
        self.forward_passes = 0  # counted for /health and the benchmark
        self.images = 0

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.worker = asyncio.create_task(self._work())

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.worker
        self.pool.shutdown(wait=True)

    async def run(self, x: np.ndarray) -> np.ndarray:
        """The runner's output (H x W at the input size) for one input (3 x H x W)."""
        if self.queue is None:
            raise RuntimeError("Batcher.start() has not been awaited")
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((x, future))
        return await future

    async def _collect(self) -> list:
        items = [await self.queue.get()]
        deadline = time.monotonic() + self.max_wait
        while len(items) < self.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self.queue.get(), left))
            except asyncio.TimeoutError:
                break
        return items

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [(x, f) for x, f in await self._collect() if not f.cancelled()]
            if not items:
                continue
            self.forward_passes += 1
            self.images += len(items)
            batch = np.stack([x for x, _ in items])
            try:
                out = await loop.run_in_executor(self.pool, self.runner, batch)
            except Exception as e:  # noqa: BLE001 - handed to each waiting request
                for _, f in items:
                    if not f.done():
                        f.set_exception(e)
                continue
            for (_, f), m in zip(items, out):
                if not f.done():
                    f.set_result(m.copy())  # its own: a view would keep the whole batch alive
