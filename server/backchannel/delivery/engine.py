"""The delivery side of a process: the dispatcher that claims and sends, and the recorder
that writes what became of each attempt, wired from the settings."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from backchannel.batch.engine import BatchEngine, Clock, system_clock
from backchannel.delivery.attempt import AttemptSettings
from backchannel.delivery.dispatcher import Dispatcher
from backchannel.delivery.health import BreakerPolicy, health_updater
from backchannel.delivery.recorder import AttemptRecorder
from backchannel.delivery.retry_alarm import RetryAlarm
from backchannel.ids import worker_id
from backchannel.model import AttemptOutcome, DeliveryState
from backchannel.plugin_host import LoadedPlugins
from backchannel.report.engine import ReportEngine
from backchannel.sealing.key_ring import KeyRing
from backchannel.settings import Settings


class DeliveryEngine:
    def __init__(
        self,
        pool: asyncpg.Pool,
        plugins: LoadedPlugins,
        settings: Settings,
        key_ring: KeyRing,
        clock: Clock = system_clock,
    ) -> None:
        s = settings
        worker = worker_id()
        breaker = BreakerPolicy(
            failure_threshold=s.circuit_failure_threshold,
            open_seconds=s.circuit_open_seconds,
            auto_disable_after_seconds=s.auto_disable_after_seconds,
        )
        self._retry_alarm = RetryAlarm(self.wake)
        update_health = health_updater(breaker, worker)
        self._recorder = AttemptRecorder(pool, update_health, on_recorded=self._retries_scheduled)
        attempt_settings = AttemptSettings(
            retry_schedule=s.retry_schedule,
            send_deadline=s.outbound_timeout_seconds + 5.0,
            worker_id=worker,
            throttle_min_delay=s.throttle_min_delay_seconds,
        )
        #: Batch files: schedules, builds, sends (see backchannel.batch).
        self.batches = BatchEngine(
            pool,
            plugins,
            attempt_settings,
            update_health,
            lease_seconds=s.lease_seconds,
            poll_interval=s.poll_interval_seconds,
            concurrency=s.batch_concurrency,
            signing_key_file=s.batch_signing_key_file,
            clock=clock,
            spool_retention_seconds=s.event_retention_days * 86400.0,
            others_busy=lambda: self._dispatcher.busy,
            key_ring=key_ring,
        )
        #: Summary reports: schedules and sends (see backchannel.report).
        self.reports = ReportEngine(
            pool,
            plugins,
            attempt_settings,
            update_health,
            lease_seconds=s.lease_seconds,
            poll_interval=s.poll_interval_seconds,
            clock=clock,
            key_ring=key_ring,
        )
        self._dispatcher = Dispatcher(
            pool,
            plugins,
            self._recorder,
            attempt_settings,
            concurrency=s.delivery_concurrency,
            claim_batch_size=s.claim_batch_size,
            lease_seconds=s.lease_seconds,
            poll_interval=s.poll_interval_seconds,
            key_ring=key_ring,
            retry_share=s.retry_share,
            recipient_concurrency=s.recipient_concurrency,
        )
        self._grace = s.shutdown_grace_seconds

    def _retries_scheduled(self, outcomes: Sequence[AttemptOutcome]) -> None:
        self._retry_alarm.add(
            outcome.next_attempt_time
            for outcome in outcomes
            if outcome.new_state == DeliveryState.PENDING and outcome.next_attempt_time
        )

    def start(self) -> None:
        self._recorder.start()
        self._dispatcher.start()
        self.batches.start()
        self.reports.start()

    def wake(self, _payload: str = "") -> None:
        """Deliveries may be due: claim now rather than at the next poll."""
        self._dispatcher.wake()
        self.batches.wake()
        self.reports.wake()

    async def stop(self) -> None:
        """Stops claiming, lets attempts in flight finish within the shutdown grace and
        records them, hands the rest back."""
        await self._dispatcher.stop(self._grace)
        await self.batches.stop(self._grace)
        await self.reports.stop()
        await self._recorder.stop()
        self._retry_alarm.close()
