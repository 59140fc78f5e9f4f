"""Claims due deliveries and runs their attempts, bounded in concurrency.

A notification (new deliveries committed) or the poll interval wakes it; it claims in
batches with a lease, sends outside any transaction, and hands outcomes to the recorder.
Expired leases (a worker that died mid-delivery) are released by every dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from backchannel.delivery.attempt import AttemptSettings, perform_attempt
from backchannel.delivery.recorder import AttemptRecorder
from backchannel.plugin_host import LoadedPlugins
from backchannel.store import deliveries as delivery_store
from backchannel.store.records import ClaimedDelivery

log = logging.getLogger(__name__)

_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Dispatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        plugins: LoadedPlugins,
        recorder: AttemptRecorder,
        attempt_settings: AttemptSettings,
        concurrency: int,
        claim_batch_size: int,
        lease_seconds: float,
        poll_interval: float,
    ) -> None:
        self._pool = pool
        self._plugins = plugins
        self._recorder = recorder
        self._attempt_settings = attempt_settings
        self._concurrency = concurrency
        self._claim_batch_size = claim_batch_size
        self._lease_seconds = lease_seconds
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._reaper_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._claim_loop(), name="dispatcher")
        self._reaper_task = asyncio.create_task(self._release_expired(), name="lease-reaper")

    def wake(self, _payload: str = "") -> None:
        self._wake.set()

    async def stop(self, grace: float) -> None:
        """Stops claiming, lets in-flight attempts finish within ``grace`` seconds and
        records them. Attempts still running then are abandoned; their leases expire."""
        for task in (self._loop_task, self._reaper_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._in_flight:
            _, unfinished = await asyncio.wait(self._in_flight, timeout=grace)
            for task in unfinished:
                task.cancel()
            if unfinished:
                log.warning(
                    "%d attempts unfinished at shutdown; their leases will expire", len(unfinished)
                )
        await self._recorder.flush(timeout=max(grace, 1.0))

    async def _claim_loop(self) -> None:
        while True:
            capacity = self._concurrency - len(self._in_flight)
            claimed: list[ClaimedDelivery] = []
            if capacity > 0:
                limit = min(self._claim_batch_size, capacity)
                try:
                    claimed = await delivery_store.claim_due_deliveries(
                        self._pool, limit, self._lease_seconds
                    )
                except _DB_ERRORS as error:
                    log.warning("could not claim deliveries: %s", type(error).__name__)
                for delivery in claimed:
                    task = asyncio.create_task(self._attempt(delivery))
                    self._in_flight.add(task)
                    task.add_done_callback(self._attempt_done)
                if len(claimed) == limit:
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if len(self._in_flight) <= max(0, self._concurrency - self._claim_batch_size):
            self._wake.set()

    async def _attempt(self, delivery: ClaimedDelivery) -> None:
        try:
            outcome = await perform_attempt(delivery, self._plugins, self._attempt_settings)
        except Exception:
            log.exception("attempt of delivery %s failed unexpectedly", delivery.delivery_id)
            return
        self._recorder.record(outcome)

    async def _release_expired(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, min(self._lease_seconds / 4, 15.0)))
            try:
                released = await delivery_store.release_expired_leases(self._pool)
            except _DB_ERRORS:
                continue
            if released:
                log.info("released %d deliveries whose lease expired", released)
                self._wake.set()
