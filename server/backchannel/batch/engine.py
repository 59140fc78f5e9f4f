"""The batch side of a delivery process: it runs due schedules and size triggers (taking
members, then building), builds batches left ``building`` by a worker that died, sends due
batch files, and ends the members of finished batches with their events, in chunks.

Time for schedules comes from ``clock`` (tests give their own): a due occurrence is run
once, and the next one is counted from the later of that occurrence and now, so a run
missed while nothing was up runs once when a server starts, not once per missed tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from backchannel.background import stop_task
from backchannel.batch.builder import BatchBuilder
from backchannel.batch.config import batch_config
from backchannel.batch.events import MEMBER_STATUS, batch_event
from backchannel.batch.schedule import next_run
from backchannel.batch.sender import perform_batch_attempt
from backchannel.delivery.attempt import AttemptSettings
from backchannel.delivery.health import HealthUpdater
from backchannel.model import BatchRow, ClaimedBatch, EventRecord, RecipientRecord
from backchannel.plugin_host import LoadedPlugins
from backchannel.recipient_transport import PreparedRecipients
from backchannel.sealing.key_ring import KeyRing
from backchannel.store import batches as batch_store
from backchannel.store import recipients as recipient_store
from backchannel.store import spool
from backchannel.store.database import log_database_error
from backchannel.store.deliveries import RecipientRevisions

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: Members ended per transaction when a batch finishes.
SETTLE_CHUNK = 2000
_PRUNE_EVERY_SECONDS = 3600.0


def system_clock() -> datetime:
    return datetime.now(UTC)


class BatchEngine:
    def __init__(
        self,
        pool: asyncpg.Pool,
        plugins: LoadedPlugins,
        attempt_settings: AttemptSettings,
        update_health: HealthUpdater,
        *,
        lease_seconds: float,
        poll_interval: float,
        concurrency: int = 2,
        signing_key_file: str = "",
        clock: Clock = system_clock,
        spool_retention_seconds: float = 30 * 86400.0,
        others_busy: Callable[[], bool] = lambda: False,
        key_ring: KeyRing | None = None,
    ) -> None:
        self._pool = pool
        self._plugins = plugins
        self._attempt_settings = attempt_settings
        self._update_health = update_health
        self._lease_seconds = lease_seconds
        self._poll_interval = poll_interval
        self._concurrency = concurrency
        signing_key = Path(signing_key_file).read_text() if signing_key_file else None
        self.builder = BatchBuilder(pool, signing_key, others_busy, key_ring)
        self._clock = clock
        self._spool_retention = timedelta(seconds=spool_retention_seconds)
        self._next_prune = 0.0
        # The key ring opens recipients' sealed secrets (none: only unsealed ones open).
        self._prepared = PreparedRecipients(key_ring or KeyRing())
        self._revisions = RecipientRevisions()
        self._wake = asyncio.Event()
        self._builds: dict[asyncio.Task[None], str] = {}
        self._sends: dict[asyncio.Task[None], str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._settling: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(), name="batch-engine"),
            asyncio.create_task(self._keep_leases(), name="batch-leases"),
        ]

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace: float) -> None:
        for task in (*self._tasks, self._settling):
            await stop_task(task)
        running = set(self._builds) | set(self._sends)
        if running:
            _, unfinished = await asyncio.wait(running, timeout=grace)
            for task in unfinished:
                task.cancel()
            # Their leases expire: builds are built again, sends sent again.

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as error:
                log_database_error(log, "running batches", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()

    async def tick(self) -> None:
        """One round of everything due; tests call it with their clock set."""
        await self.run_due_schedules()
        await self.run_size_triggers()
        await self.resume_builds()
        await self.send_due()
        if self._settling is None or self._settling.done():
            # Ending a million members takes a while: it must not hold up the next sends.
            self._settling = asyncio.create_task(self._settle_logged(), name="batch-settle")
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + _PRUNE_EVERY_SECONDS
            await self.prune_spools()

    async def prune_spools(self) -> None:
        """Deletes the files of batches that failed, died or were cancelled longer ago
        than the retention (a succeeded batch's file goes as soon as its members are
        settled); RetryBatch then refuses, saying the file is no longer kept."""
        before = datetime.now(UTC) - self._spool_retention
        for batch_id, oids in await batch_store.spools_past_retention(self._pool, before):
            await batch_store.forget_spool(self._pool, batch_id)
            for oid in oids:
                await spool.delete(self._pool, oid)

    # --- taking members --------------------------------------------------------------

    async def run_due_schedules(self) -> None:
        now = self._clock()
        claims = await batch_store.claim_due_schedules(
            self._pool, now, self._lease_seconds, limit=10
        )
        for claim in claims:
            recipient = await recipient_store.get_recipient(self._pool, claim.recipient_id)
            if recipient is None or recipient.batch is None:
                continue
            config = batch_config(recipient.batch)
            following = next_run(config.cron, config.time_zone, max(claim.due_at, now))
            taken = await self.builder.take(
                recipient,
                period_start=claim.last_period_end,
                period_end=claim.due_at,
                run_time=now,
                lease_seconds=self._lease_seconds,
                schedule_claim=(claim, following),
            )
            if taken is not None:
                log.info(
                    "batch %s of %s: %d feedback items",
                    taken.batch_id,
                    recipient.id,
                    taken.member_count,
                )
                self._start_build(taken.batch_id, taken.lease_token, recipient.id)

    async def run_size_triggers(self) -> None:
        for recipient_id in await batch_store.recipients_over_max_rows(self._pool):
            recipient = await recipient_store.get_recipient(self._pool, recipient_id)
            if recipient is None or recipient.batch is None:
                continue
            now = self._clock()
            taken = await self.builder.take(
                recipient,
                period_start=None,
                period_end=now,
                run_time=now,
                lease_seconds=self._lease_seconds,
            )
            if taken is not None:
                self._start_build(taken.batch_id, taken.lease_token, recipient.id)

    # --- building ----------------------------------------------------------------------

    async def resume_builds(self) -> None:
        """Builds batches whose builder died (their lease expired), and batches an operator
        made (RunBatch leaves them for a delivery process to build)."""
        while len(self._builds) < self._concurrency:
            claim = await batch_store.claim_batch_to_build(self._pool, self._lease_seconds)
            if claim is None:
                return
            for oid in (claim.spool_oid, claim.manifest_oid):
                await spool.delete(self._pool, oid)
            batch = await batch_store.get_batch(self._pool, claim.batch_id)
            assert batch is not None
            self._start_build(claim.batch_id, claim.lease_token, batch.recipient_id)

    def _start_build(self, batch_id: str, lease_token: str, recipient_id: str) -> None:
        task = asyncio.create_task(self._build(batch_id, lease_token, recipient_id))
        self._builds[task] = lease_token
        task.add_done_callback(self._builds.pop)

    async def _build(self, batch_id: str, lease_token: str, recipient_id: str) -> None:
        try:
            recipient = await recipient_store.recipient_in_any_state(self._pool, recipient_id)
            if recipient is None or recipient.batch is None:
                return
            await self.builder.build(batch_id, lease_token, recipient)
            log.info("built batch %s", batch_id)
            self._wake.set()
        except batch_store.LeaseLostError:
            log.warning("batch %s is being built by another worker now", batch_id)
        except Exception:
            log.exception("building batch %s failed; built again when its lease expires", batch_id)

    # --- sending -----------------------------------------------------------------------

    async def send_due(self) -> None:
        room = self._concurrency - len(self._sends)
        if room <= 0:
            return
        await batch_store.release_expired_leases(self._pool)
        for claimed in await batch_store.claim_due_batches(
            self._pool, self._lease_seconds, room, self._revisions
        ):
            task = asyncio.create_task(self._send(claimed))
            self._sends[task] = claimed.lease_token
            task.add_done_callback(self._sends.pop)

    async def _send(self, claimed: ClaimedBatch) -> None:
        try:
            attempt = await perform_batch_attempt(
                self._pool, claimed, self._plugins, self._attempt_settings, self._prepared
            )
            await batch_store.record_attempt(
                self._pool, attempt.outcome, attempt.state, attempt.reason, self._update_health
            )
            self._wake.set()
        except Exception:
            log.exception("attempt of batch %s failed unexpectedly", claimed.batch.id)

    # --- ending members ----------------------------------------------------------------

    async def _settle_logged(self) -> None:
        try:
            await self.settle()
        except Exception as error:
            log_database_error(log, "ending the members of finished batches", error)

    async def settle(self) -> None:
        for row in await batch_store.unsettled_batches(self._pool, limit=10):
            batch = await batch_store.get_batch(self._pool, row["id"])
            recipient = await recipient_store.recipient_in_any_state(
                self._pool, row["recipient_id"]
            )
            if batch is None or recipient is None or batch.state not in MEMBER_STATUS:
                continue  # retried since it was listed: settled when it ends again
            events = _member_events(recipient, batch)
            settled = SETTLE_CHUNK
            while settled == SETTLE_CHUNK:
                settled = await batch_store.settle_chunk(
                    self._pool, batch.id, batch.state, batch.attempt_count, SETTLE_CHUNK, events
                )
            marked = await batch_store.mark_settled(
                self._pool, batch.id, batch.state, batch.attempt_count
            )
            if marked is not None and marked[2] == "succeeded":
                # Sent: the file is no longer needed (a failed or dead batch keeps it for
                # RetryBatch).
                await batch_store.forget_spool(self._pool, batch.id)
                for oid in marked[:2]:
                    await spool.delete(self._pool, oid)

    # --- leases ------------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(max(0.5, min(self._lease_seconds / 3, 15.0)))
            tokens = list(self._builds.values()) + list(self._sends.values())
            try:
                await batch_store.renew_leases(self._pool, tokens, self._lease_seconds)
            except Exception as error:
                log_database_error(log, "renewing batch leases", error)


def _member_events(
    recipient: RecipientRecord, batch: BatchRow
) -> Callable[[Sequence[asyncpg.Record]], list[EventRecord]]:
    """Makes the final events of a finished batch's members."""
    now = datetime.now(UTC)
    status = MEMBER_STATUS[batch.state]
    excerpt = f"carried by batch {batch.id} ({batch.file_name}): {batch.state}"
    if batch.reason:
        excerpt += f": {batch.reason}"

    def events(rows: Sequence[asyncpg.Record]) -> list[EventRecord]:
        return [
            batch_event(
                recipient,
                batch,
                delivery_id=r["delivery_id"],
                feedback_id=r["feedback_id"],
                lead_id=r["lead_id"],
                source_id=r["source_id"],
                status=status,
                excerpt=excerpt[:256],
                start=now,
                end=now,
                attempt=batch.attempt_count,
            )
            for r in rows
        ]

    return events
