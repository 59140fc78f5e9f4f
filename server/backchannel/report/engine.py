"""The report side of a delivery process: runs due report schedules (each occurrence
claimed under a lease, so one replica makes it; the run rendered and the schedule moved on
in one transaction) and sends due runs, each under a lease longer than its attempt.

Time for schedules comes from ``clock`` (tests give their own). A due occurrence is made
once, and the next one is counted from now: runs missed while nothing was up make one
run when a server starts, the latest missed occurrence's (the most recent whole period).
A period is never made twice (``report_runs`` is unique per report and period start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

import asyncpg

from backchannel.background import stop_task
from backchannel.batch.engine import Clock, system_clock
from backchannel.batch.schedule import next_run, zone
from backchannel.delivery.attempt import AttemptSettings
from backchannel.delivery.health import HealthUpdater
from backchannel.ids import new_id
from backchannel.plugin_host import LoadedPlugins
from backchannel.recipient_transport import PreparedRecipients
from backchannel.report.compute import build_report, new_run
from backchannel.report.period import scheduled_period
from backchannel.report.sender import perform_report_attempt
from backchannel.sealing.key_ring import KeyRing
from backchannel.store import recipients as recipient_store
from backchannel.store import reports as report_store
from backchannel.store.database import log_database_error

log = logging.getLogger(__name__)

#: Missed occurrences looked through for the latest (a minutely cron down for a week).
_MAX_MISSED = 20_000
#: A run's lease outlasts its attempt's deadline by this much, seconds.
_LEASE_MARGIN = 30.0


def latest_occurrence(cron: str, zone_name: str, due: datetime, now: datetime) -> datetime:
    """The last occurrence at or before ``now`` from ``due`` (the first one missed): after
    weeks with no server up, the report sent is the latest whole period's, once."""
    occurrence = due
    for _ in range(_MAX_MISSED):
        following = next_run(cron, zone_name, occurrence)
        if following > now:
            break
        occurrence = following
    return occurrence


class ReportEngine:
    def __init__(
        self,
        pool: asyncpg.Pool,
        plugins: LoadedPlugins,
        attempt_settings: AttemptSettings,
        update_health: HealthUpdater,
        *,
        lease_seconds: float,
        poll_interval: float,
        clock: Clock = system_clock,
        key_ring: KeyRing | None = None,
    ) -> None:
        self._pool = pool
        self._plugins = plugins
        self._attempt_settings = attempt_settings
        self._update_health = update_health
        self._lease_seconds = lease_seconds
        self._send_lease = max(lease_seconds, attempt_settings.send_deadline + _LEASE_MARGIN)
        self._poll_interval = poll_interval
        self._clock = clock
        self._prepared = PreparedRecipients(key_ring or KeyRing())
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="report-engine")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        # An attempt cut short is sent again when its lease expires.
        await stop_task(self._task)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as error:
                log_database_error(log, "running reports", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()

    async def tick(self) -> None:
        """One round of everything due; tests call it with their clock set."""
        await self.run_due_schedules()
        await self.send_due()

    async def run_due_schedules(self) -> None:
        now = self._clock()
        for claim in await report_store.claim_due_reports(
            self._pool, now, self._lease_seconds, limit=10
        ):
            try:
                await self._run_occurrence(claim, now)
            except report_store.LeaseLostError:
                log.warning("report %s is being run by another worker now", claim.report.id)
            except Exception:
                # Its lease expires and the occurrence is tried again; the others go on.
                log.exception("running report %s failed", claim.report.id)

    async def _run_occurrence(self, claim: report_store.ClaimedReport, now: datetime) -> None:
        """Makes the claimed report's due run (unless its period has one) and moves its
        schedule on, in one transaction."""
        report = claim.report
        assert report.next_run_at is not None
        occurrence = latest_occurrence(report.cron, report.time_zone, report.next_run_at, now)
        following = next_run(report.cron, report.time_zone, max(occurrence, now))
        period = scheduled_period(report.cron, report.time_zone, occurrence)
        recipient = await recipient_store.get_recipient(self._pool, report.recipient_id)
        run = None
        if recipient is not None and (
            await report_store.run_of_period(self._pool, report.id, period.start) is None
        ):
            run_id = new_id("rrun")
            built = await build_report(self._pool, report, recipient, period, run_id=run_id)
            run = new_run(built, run_id, report, period, requested_by="")
        if await report_store.make_scheduled_run(self._pool, claim, run, following):
            log.info("report %s: run for %s made", report.id, period.label())

    async def send_due(self) -> None:
        for claimed in await report_store.claim_due_runs(self._pool, self._send_lease, limit=10):
            try:
                await self._send(claimed)
            except Exception:
                log.exception("attempt of report run %s failed unexpectedly", claimed.run.id)

    async def _send(self, claimed: report_store.ClaimedRun) -> None:
        run = claimed.run
        recipient = await recipient_store.recipient_in_any_state(self._pool, run.recipient_id)
        report = await report_store.get_report(self._pool, run.report_id)
        if recipient is None:
            return
        title = (report.title if report is not None else "") or "Feedback summary"
        tz = zone(report.time_zone if report is not None else "")
        first_day = run.period_start.astimezone(tz).date()
        last_day = run.period_end.astimezone(tz).date() - timedelta(days=1)
        attempt = await perform_report_attempt(
            claimed,
            recipient,
            f"{title}: {first_day} to {last_day}",
            self._plugins,
            self._attempt_settings,
            self._prepared,
        )
        await report_store.record_attempt(
            self._pool,
            attempt.outcome,
            run.id,
            attempt.state,
            attempt.reason,
            self._update_health,
        )
