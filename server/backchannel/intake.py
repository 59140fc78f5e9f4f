"""Group commit for SendFeedback: concurrent accepts share one transaction (and one WAL
flush), so a durable accept costs a fraction of a commit under load. A request is
answered only after the transaction holding it has committed."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from backchannel.background import stop_task
from backchannel.store.feedback import insert_feedback_batch
from backchannel.store.records import NewFeedback, StoredAnswer

log = logging.getLogger(__name__)

_Item = tuple[NewFeedback, asyncio.Future[StoredAnswer]]


class Intake:
    def __init__(self, pool: asyncpg.Pool, writers: int = 4, max_batch: int = 256) -> None:
        self._pool = pool
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._writers = writers
        self._max_batch = max_batch
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_batches(), name=f"intake-writer-{i}")
            for i in range(self._writers)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            await stop_task(task)
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(ConnectionError("server is shutting down"))

    async def submit(self, feedback: NewFeedback) -> StoredAnswer:
        future: asyncio.Future[StoredAnswer] = asyncio.get_running_loop().create_future()
        await self._queue.put((feedback, future))
        return await future

    async def _write_batches(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            live = [(f, fut) for f, fut in batch if not fut.cancelled()]
            if live:
                await self._write(live)

    async def _write(self, batch: list[_Item]) -> None:
        # Two requests with one request id in a batch: the first is written, both get its answer.
        unique: dict[str, NewFeedback] = {}
        for feedback, _ in batch:
            unique.setdefault(feedback.request_id, feedback)
        try:
            async with self._pool.acquire() as connection:
                answers = await insert_feedback_batch(connection, list(unique.values()))
        except asyncpg.IntegrityConstraintViolationError as error:
            if len(unique) > 1:
                # One bad row spoils the batch; write them one by one to isolate it.
                for item in batch:
                    await self._write([item])
                return
            _fail(batch, error)
            return
        except Exception as error:
            _fail(batch, error)
            return
        for feedback, future in batch:
            if not future.done():
                future.set_result(answers[feedback.request_id])


def _fail(batch: list[_Item], error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
