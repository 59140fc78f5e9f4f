"""Writes attempt outcomes in batches: one transaction records many events.

Each batch moves its recipients' health on (``health``) inside the transaction that
writes its events. While the database is unavailable, or refuses for now (a deadlock, too
many connections), a batch is kept and retried as it is. A batch that fails for any other
reason is written item by item, so one bad item is
set aside (logged; its lease expires and it is sent again) instead of blocking every
other attempt's record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import asyncpg

from backchannel.background import cancelling, stop_task
from backchannel.delivery.health import HealthUpdater
from backchannel.metrics import count_recorded_attempts
from backchannel.model import AttemptOutcome, EventCategory, RecipientHealthRecord
from backchannel.store.database import is_transient
from backchannel.store.deliveries import attempt_recording

log = logging.getLogger(__name__)

_MAX_BATCH = 500


class AttemptRecorder:
    def __init__(
        self,
        pool: asyncpg.Pool,
        update_health: HealthUpdater,
        on_recorded: Callable[[Sequence[AttemptOutcome]], None] | None = None,
    ) -> None:
        """``on_recorded`` is told of outcomes once they are committed."""
        self._pool = pool
        self._update_health = update_health
        self._on_recorded = on_recorded
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
            await self._record_until_done(batch)
            if self._queue.empty():
                self._idle.set()

    async def _record_until_done(self, batch: list[AttemptOutcome]) -> None:
        """Records the batch, waiting out an unavailable database (the outcomes are kept
        in memory; if this process dies first, the leases expire and the deliveries are
        sent again: at least once)."""
        delay = 0.05
        while True:
            try:
                await self._record(batch)
                return
            except Exception as error:
                if cancelling():
                    raise asyncio.CancelledError from error
                if not is_transient(error):
                    await self._record_one_by_one(batch)
                    return
                log.warning(
                    "could not record %d attempts (%s); retrying",
                    len(batch),
                    type(error).__name__,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _record_one_by_one(self, batch: list[AttemptOutcome]) -> None:
        for outcome in batch:
            try:
                await self._record([outcome])
            except Exception as error:
                if cancelling():
                    raise asyncio.CancelledError from error
                if is_transient(error):
                    await self._record_until_done([outcome])
                    continue
                log.error(
                    "set aside the record of attempt %d of delivery %s: it cannot be "
                    "written; the delivery is sent again once its lease expires",
                    outcome.event.attempt,
                    outcome.event.delivery_id,
                    exc_info=error,
                )

    async def _record(self, outcomes: Sequence[AttemptOutcome]) -> None:
        """Records every attempt as a feedback-sent event and moves its delivery on, and
        moves each recipient's health on (with the operator events that produces), in one
        transaction."""
        events = [o.event for o in outcomes]
        by_recipient: dict[str, list[AttemptOutcome]] = {}
        for outcome in outcomes:
            by_recipient.setdefault(outcome.event.recipient_id, []).append(outcome)
        async with attempt_recording(self._pool) as recording:
            now, healths = await recording.lock_health(list(by_recipient))
            updated: list[RecipientHealthRecord] = []
            for recipient_id in sorted(by_recipient):
                health, extra_events, disable_reason = self._update_health(
                    healths[recipient_id], by_recipient[recipient_id], now
                )
                updated.append(health)
                disabled = disable_reason is not None and await recording.disable_recipient(
                    recipient_id, disable_reason
                )
                events += [
                    e
                    for e in extra_events
                    if disabled or e.category != EventCategory.RECIPIENT_DISABLED
                ]
            await recording.write(events, updated, outcomes)
        count_recorded_attempts(outcomes)
        if self._on_recorded is not None:
            self._on_recorded(outcomes)
