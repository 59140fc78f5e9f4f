"""Writes attempt outcomes in batches: one transaction records many events."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from backchannel.background import cancelling, stop_task
from backchannel.metrics import count_recorded_attempts
from backchannel.store.database import DATABASE_ERRORS
from backchannel.store.deliveries import HealthUpdater, record_attempts
from backchannel.store.records import AttemptOutcome

log = logging.getLogger(__name__)

_MAX_BATCH = 500


class AttemptRecorder:
    def __init__(self, pool: asyncpg.Pool, update_health: HealthUpdater) -> None:
        self._pool = pool
        self._update_health = update_health
        self._queue: asyncio.Queue[AttemptOutcome] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="attempt-recorder")

    def record(self, outcome: AttemptOutcome) -> None:
        self._idle.clear()
        self._queue.put_nowait(outcome)

    async def flush(self, timeout: float) -> bool:
        """Waits until everything handed over is written; False if time ran out."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            delay = 0.05
            while True:
                try:
                    await record_attempts(self._pool, batch, self._update_health)
                    count_recorded_attempts(batch)
                    break
                except DATABASE_ERRORS as error:
                    if cancelling():
                        raise asyncio.CancelledError from error
                    # Kept in memory and retried; if this process dies first, the leases
                    # expire and the deliveries are sent again (at least once).
                    log.warning(
                        "could not record %d attempts (%s); retrying",
                        len(batch),
                        type(error).__name__,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            if self._queue.empty():
                self._idle.set()
