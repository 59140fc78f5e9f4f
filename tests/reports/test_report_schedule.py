"""Scheduled report runs, driven by a clock the test controls, sent to a real webhook
receiver: two delivery processes racing make and send one occurrence once; runs missed
while nothing was up are made once; a failed attempt is retried under the recipient's
retry policy with the same bytes; every attempt is a summary-level feedback-sent event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp import web
from support.in_process_server import settings_for_test
from support.receiver import Received, WebhookReceiver

from backchannel.batch.engine import Clock
from backchannel.delivery.attempt import AttemptSettings
from backchannel.delivery.health import BreakerPolicy, health_updater
from backchannel.model import (
    AuditEntry,
    RecipientRecord,
    RecipientState,
    ReportDefinition,
    ReportSection,
)
from backchannel.plugin_host import LoadedPlugins
from backchannel.process_setup import close_transports, started_plugins
from backchannel.report.engine import ReportEngine
from backchannel.store import recipients as recipient_store
from backchannel.store import reports as report_store

NY = ZoneInfo("America/New_York")
WEEKLY = "0 6 * * 1"  # Mondays 06:00 in New York


class ControlledClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def plugins(database_url: str) -> AsyncIterator[LoadedPlugins]:
    loaded = await started_plugins(settings_for_test(database_url))
    yield loaded
    await close_transports(loaded)


async def weekly_report(pool: asyncpg.Pool, url: str, first_due: datetime) -> None:
    now = datetime.now(UTC)
    record = RecipientRecord(
        id="weekly", display_name="", recipient_type="source", transport="webhook",
        transport_settings={"url": url}, sealed_secrets={}, format="json", format_options={},
        subscribed_kinds=(), subscribed_source_ids=(), state=RecipientState.ACTIVE,
        revision=1, create_time=now, update_time=now, retry_delays=(0.0, 0.0),
        max_attempts=3,
    )  # fmt: skip
    audit = AuditEntry("test", "local", "", "recipient.create", "recipients/weekly")
    await recipient_store.create_recipient(pool, record, audit)
    definition = ReportDefinition(
        id="rpt_weekly", recipient_id="weekly", title="Weekly", source_ids=("src-a",),
        every_source=False, sections=tuple(ReportSection), format="", cron=WEEKLY,
        time_zone="America/New_York", benchmark_min_sources=5, footer="",
    )  # fmt: skip
    made = AuditEntry("test", "local", "", "report.create", "reports/rpt_weekly")
    await report_store.create_report(pool, definition, first_due, made)


def engine(pool: asyncpg.Pool, plugins: LoadedPlugins, clock: Clock, name: str) -> ReportEngine:
    return ReportEngine(
        pool,
        plugins,
        AttemptSettings(retry_schedule=(0.0,), send_deadline=5.0, worker_id=name),
        health_updater(BreakerPolicy(failure_threshold=100), name),
        lease_seconds=30,
        poll_interval=1,
        clock=clock,
    )


async def runs(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, period_start, period_end, state, attempt_count, sha256 FROM report_runs"
        " ORDER BY period_start"
    )


async def summary_events(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT delivery_id, processing_status, content_sha256, attempt FROM feedback_events"
        " WHERE aggregation_level = 'summary' ORDER BY attempt"
    )


async def test_two_engines_racing_make_and_send_one_occurrence_once(
    store_pool: asyncpg.Pool, receiver: WebhookReceiver, plugins: LoadedPlugins
) -> None:
    monday = datetime(2026, 11, 9, 6, tzinfo=NY)
    await weekly_report(store_pool, receiver.url, monday.astimezone(UTC))
    clock = ControlledClock(datetime(2026, 11, 9, 12, tzinfo=UTC))
    first = engine(store_pool, plugins, clock, "one")
    second = engine(store_pool, plugins, clock, "two")
    for _ in range(3):
        await asyncio.gather(first.tick(), second.tick())
    assert len(receiver.requests) == 1
    document: dict[str, Any] = json.loads(receiver.requests[0].body)
    assert (document["period"]["first_day"], document["period"]["last_day"]) == (
        "2026-11-02",
        "2026-11-08",
    )
    [run] = await runs(store_pool)
    assert run["state"] == "succeeded"
    assert receiver.requests[0].headers["webhook-id"] == run["id"]
    [event] = await summary_events(store_pool)
    assert (event["delivery_id"], event["processing_status"]) == (run["id"], "succeeded")
    assert event["content_sha256"] == run["sha256"]
    next_due = await store_pool.fetchval("SELECT next_run_at FROM reports")
    assert next_due == datetime(2026, 11, 16, 6, tzinfo=NY)


async def test_weeks_missed_while_nothing_was_up_make_one_run_of_the_latest_week(
    store_pool: asyncpg.Pool, receiver: WebhookReceiver, plugins: LoadedPlugins
) -> None:
    await weekly_report(store_pool, receiver.url, datetime(2026, 11, 9, 6, tzinfo=NY))
    clock = ControlledClock(datetime(2026, 11, 30, 12, tzinfo=UTC))  # three Mondays missed
    reports = engine(store_pool, plugins, clock, "late")
    await reports.tick()
    await reports.tick()
    assert len(await runs(store_pool)) == 1
    assert len(receiver.requests) == 1
    period = json.loads(receiver.requests[0].body)["period"]
    assert (period["first_day"], period["last_day"]) == ("2026-11-23", "2026-11-29"), "the latest"
    next_due = await store_pool.fetchval("SELECT next_run_at FROM reports")
    assert next_due == datetime(2026, 12, 7, 6, tzinfo=NY)


async def test_a_failed_attempt_is_retried_with_the_same_bytes(
    store_pool: asyncpg.Pool, receiver: WebhookReceiver, plugins: LoadedPlugins
) -> None:
    answers = iter([500, 204])

    def answer(_: Received) -> web.StreamResponse:
        return web.Response(status=next(answers, 204))

    receiver.respond = answer
    await weekly_report(store_pool, receiver.url, datetime(2026, 11, 9, 6, tzinfo=NY))
    clock = ControlledClock(datetime(2026, 11, 9, 12, tzinfo=UTC))
    reports = engine(store_pool, plugins, clock, "retry")
    await reports.tick()
    await reports.tick()
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    [run] = await runs(store_pool)
    assert (run["state"], run["attempt_count"]) == ("succeeded", 2)
    events = await summary_events(store_pool)
    assert [(e["attempt"], e["processing_status"]) for e in events] == [
        (1, "retry_scheduled"),
        (2, "succeeded"),
    ]


async def test_a_run_being_sent_by_one_engine_is_not_sent_by_another(
    store_pool: asyncpg.Pool, plugins: LoadedPlugins
) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()
    bodies: list[bytes] = []

    async def slow(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        arrived.set()
        await release.wait()  # the first engine is mid-send until the test lets it go
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await weekly_report(
            store_pool, f"http://127.0.0.1:{port}/hook", datetime(2026, 11, 9, 6, tzinfo=NY)
        )
        clock = ControlledClock(datetime(2026, 11, 9, 12, tzinfo=UTC))
        first = engine(store_pool, plugins, clock, "one")
        second = engine(store_pool, plugins, clock, "two")
        sending = asyncio.create_task(first.tick())
        await asyncio.wait_for(arrived.wait(), 10)
        await second.tick()
        await second.tick()
        release.set()
        await sending
        await second.tick()
        assert len(bodies) == 1
        [run] = await runs(store_pool)
        assert (run["state"], run["attempt_count"]) == ("succeeded", 1)
    finally:
        release.set()
        await runner.cleanup()
