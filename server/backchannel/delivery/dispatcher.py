"""Claims due deliveries and runs their attempts, bounded in concurrency.

A notification (new deliveries committed) or the poll interval wakes it; it claims in
batches with a lease, sends outside any transaction, and hands outcomes to the recorder.
Expired leases (a worker that died mid-delivery) are released by every dispatcher.
Retries may fill only part of the concurrency, so first attempts are never starved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque

import asyncpg

from backchannel.background import stop_task
from backchannel.delivery.attempt import AttemptRunner, AttemptSettings
from backchannel.delivery.claims import claim_due_deliveries
from backchannel.delivery.recorder import AttemptRecorder
from backchannel.model import ClaimedDelivery
from backchannel.plugin_host import LoadedPlugins
from backchannel.recipient_transport import PreparedRecipients
from backchannel.sealing.key_ring import KeyRing
from backchannel.store import deliveries as delivery_store
from backchannel.store.database import log_database_error

log = logging.getLogger(__name__)

#: How long a delivery handed back for a busy recipient waits before it is claimed again.
_BUSY_RECIPIENT_WAIT = 0.05
#: Seconds after an attempt ends during which the dispatcher still counts as busy.
_BUSY_AFTER_ATTEMPT = 0.5


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
        key_ring: KeyRing,
        retry_share: float = 0.5,
        recipient_concurrency: int = 32,
    ) -> None:
        self._pool = pool
        self._recipient_revisions = delivery_store.RecipientRevisions()
        self._run_attempt = AttemptRunner(plugins, attempt_settings, PreparedRecipients(key_ring))
        self._recorder = recorder
        self._concurrency = concurrency
        self._claim_batch_size = claim_batch_size
        self._lease_seconds = lease_seconds
        self._poll_interval = poll_interval
        self._retry_capacity = max(1, int(concurrency * retry_share))
        self._wake = asyncio.Event()
        self._in_flight: dict[asyncio.Task[None], ClaimedDelivery] = {}
        self._retries_in_flight = 0
        self._last_attempt_done = 0.0
        #: Attempts in flight per recipient in this process: one recipient that never
        #: answers holds at most this many of the slots, never all of them.
        self._recipient_concurrency = recipient_concurrency
        self._in_flight_by_recipient: Counter[str] = Counter()
        #: Claimed deliveries waiting for a slot of their recipient (leased, renewed).
        self._waiting: dict[str, deque[ClaimedDelivery]] = {}
        self._waiting_count = 0
        #: At most this many may wait per recipient: a recipient is claimed for while
        #: fewer than its slots' worth wait, so one more claim batch always fits.
        self._waiting_room = claim_batch_size + recipient_concurrency
        #: Whether the last claim was cut short by its limit, so more may be due now.
        self._more_may_be_due = True
        #: A finished attempt wakes the claim loop once this few are busy: when a whole
        #: claim batch fits, or half the slots are free if the batch is larger than that
        #: (a pipeline emptied before each claim would stall on every claim's round trip).
        self._refill_at = concurrency - min(claim_batch_size, max(1, (concurrency + 1) // 2))
        self._loop_task: asyncio.Task[None] | None = None
        self._reaper_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._claim_loop(), name="dispatcher")
        self._reaper_task = asyncio.create_task(self._release_expired(), name="lease-reaper")

    def wake(self, _payload: str = "") -> None:
        self._wake.set()

    @property
    def busy(self) -> bool:
        """Whether attempts are in flight or waiting for a slot, or one ended a moment ago
        (between a batch of attempts and the next claim nothing is in flight, yet the
        work goes on)."""
        return (
            bool(self._in_flight)
            or self._waiting_count > 0
            or time.monotonic() - self._last_attempt_done < _BUSY_AFTER_ATTEMPT
        )

    async def stop(self, grace: float) -> None:
        """Stops claiming, lets in-flight attempts finish within ``grace`` seconds and
        records them; hands back the deliveries of attempts still running then."""
        for task in (self._loop_task, self._reaper_task):
            await stop_task(task)
        waiting = [d.lease_token for queue in self._waiting.values() for d in queue]
        self._waiting.clear()
        self._waiting_count = 0
        unfinished: set[asyncio.Task[None]] = set()
        if self._in_flight:
            _, unfinished = await asyncio.wait(set(self._in_flight), timeout=grace)
        tokens = waiting + [
            self._in_flight[t].lease_token for t in unfinished if t in self._in_flight
        ]
        for task in unfinished:
            task.cancel()
        await self._recorder.flush(timeout=max(grace, 1.0))
        if tokens:
            try:
                await delivery_store.release_claims(self._pool, tokens)
                log.warning("handed back %d deliveries unfinished at shutdown", len(tokens))
            except Exception as error:
                log_database_error(
                    log, f"handing back {len(tokens)} deliveries unfinished at shutdown", error
                )
                log.warning(
                    "%d deliveries unfinished at shutdown wait for their lease", len(tokens)
                )

    async def _claim_loop(self) -> None:
        while True:
            capacity = self._concurrency - len(self._in_flight) - self._waiting_count
            claimed: list[ClaimedDelivery] = []
            wait = self._poll_interval
            if capacity > 0:
                limit = min(self._claim_batch_size, capacity)
                # A recipient using all its slots, with a slots' worth of claimed
                # deliveries waiting, gets nothing more until fewer wait.
                busy = [
                    r
                    for r, running in self._in_flight_by_recipient.items()
                    if running >= self._recipient_concurrency
                    and len(self._waiting.get(r, ())) >= self._recipient_concurrency
                ]
                try:
                    batch = await claim_due_deliveries(
                        self._pool,
                        limit,
                        self._lease_seconds,
                        retry_limit=self._retry_capacity - self._retries_in_flight,
                        recipients=self._recipient_revisions,
                        busy_recipients=busy,
                    )
                    claimed = batch.deliveries
                    # Deliveries of the recipients left out may be due as well.
                    self._more_may_be_due = len(claimed) == limit or bool(busy)
                    if batch.recheck_after is not None:
                        wait = min(wait, max(batch.recheck_after, 0.01))
                except Exception as error:
                    log_database_error(log, "claiming deliveries", error)
                handed_back: list[str] = []
                for delivery in claimed:
                    recipient_id = delivery.recipient.id
                    if self._in_flight_by_recipient[recipient_id] < self._recipient_concurrency:
                        self._start(delivery)
                        continue
                    queue = self._waiting.setdefault(recipient_id, deque())
                    if len(queue) < self._waiting_room:
                        # Its recipient is busy: it starts as soon as one of its slots frees.
                        queue.append(delivery)
                        self._waiting_count += 1
                        if delivery.attempt > 1:
                            self._retries_in_flight += 1
                    else:
                        handed_back.append(delivery.lease_token)
                if handed_back:
                    await self._hand_back(handed_back)
                    wait = min(wait, _BUSY_RECIPIENT_WAIT)
                if len(claimed) == limit and not handed_back:
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()

    async def _hand_back(self, lease_tokens: list[str]) -> None:
        try:
            await delivery_store.release_claims(self._pool, lease_tokens, _BUSY_RECIPIENT_WAIT)
        except Exception as error:
            # Their leases expire and they come back then.
            log_database_error(log, "handing back deliveries of busy recipients", error)

    def _start(self, delivery: ClaimedDelivery, counted: bool = False) -> None:
        self._in_flight_by_recipient[delivery.recipient.id] += 1
        task = asyncio.create_task(self._attempt(delivery))
        self._in_flight[task] = delivery
        if delivery.attempt > 1 and not counted:
            self._retries_in_flight += 1
        task.add_done_callback(self._attempt_done)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._last_attempt_done = time.monotonic()
        delivery = self._in_flight.pop(task, None)
        if delivery is not None:
            recipient_id = delivery.recipient.id
            self._in_flight_by_recipient[recipient_id] -= 1
            if not self._in_flight_by_recipient[recipient_id]:
                del self._in_flight_by_recipient[recipient_id]
            if delivery.attempt > 1:
                self._retries_in_flight -= 1
            queue = self._waiting.get(recipient_id)
            if queue:
                self._waiting_count -= 1
                self._start(queue.popleft(), counted=True)
                if not queue:
                    del self._waiting[recipient_id]
                if len(queue) >= self._recipient_concurrency or not self._more_may_be_due:
                    # The slot went to a delivery already claimed, and either enough wait
                    # for this recipient or the last claim took every due delivery it could
                    # (new deliveries wake the loop with their notification).
                    return
        if len(self._in_flight) + self._waiting_count <= self._refill_at:
            self._wake.set()

    async def _attempt(self, delivery: ClaimedDelivery) -> None:
        try:
            outcome = await self._run_attempt(delivery)
        except Exception:
            log.exception("attempt of delivery %s failed unexpectedly", delivery.delivery_id)
            return
        self._recorder.record(outcome)

    async def _release_expired(self) -> None:
        """Renews this process's leases and releases everyone's expired ones."""
        while True:
            await asyncio.sleep(max(0.5, min(self._lease_seconds / 3, 15.0)))
            tokens = [d.lease_token for d in self._in_flight.values()] + [
                d.lease_token for queue in self._waiting.values() for d in queue
            ]
            if tokens:
                try:
                    await delivery_store.renew_leases(self._pool, tokens, self._lease_seconds)
                except Exception as error:
                    log_database_error(log, "renewing leases", error)
            try:
                released = await delivery_store.release_expired_leases(self._pool)
            except Exception as error:
                log_database_error(log, "releasing expired leases", error)
                continue
            if released:
                log.info("released %d deliveries whose lease expired", released)
                self._wake.set()
