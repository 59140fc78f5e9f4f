"""Batches for group commit: what one statement writes next.

Everything waiting is taken at once. Under concurrent load the writer also lingers before
writing, as Postgres's own commit_delay does: while requests keep arriving (each short
wait brings more), it waits a little longer, up to a bound, so one statement carries more
of them; a statement's cost, and Postgres's, is per batch, so bigger batches leave more of
both processes for requests. A request arriving alone, after a batch of one, is taken at
once: light load pays no latency for it.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class CommitBatches(Generic[T]):
    def __init__(
        self,
        max_batch: int = 256,
        linger_seconds: float = 0.002,
        linger_step_seconds: float = 0.00025,
    ) -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue()
        self._max_batch = max_batch
        self._linger = linger_seconds
        self._linger_step = linger_step_seconds
        self._last_batch_size = 0

    def put(self, item: T) -> None:
        self._queue.put_nowait(item)

    async def next_batch(self) -> list[T]:
        """Waits for an item; returns it with everything waiting, and, under concurrent
        load, what keeps arriving while lingering."""
        batch = [await self._queue.get()]
        self._take_waiting(batch)
        if len(batch) > 1 or self._last_batch_size > 1:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._linger
            while len(batch) < self._max_batch and loop.time() < deadline:
                before = len(batch)
                await asyncio.sleep(self._linger_step)
                self._take_waiting(batch)
                if len(batch) == before:
                    break
        self._last_batch_size = len(batch)
        return batch

    def take_all(self) -> list[T]:
        """Whatever is waiting, now (nothing is left behind)."""
        items: list[T] = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    def _take_waiting(self, batch: list[T]) -> None:
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
