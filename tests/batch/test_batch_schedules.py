"""Batch schedules run by a clock the test controls (never by sleeping until 02:00), against
real Postgres: one run per occurrence, a time skipped by daylight saving runs once, a time
repeated by it runs once, and runs missed while nothing was up run once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from backchannel.batch.engine import BatchEngine
from backchannel.batch.schedule import next_run
from backchannel.delivery.attempt import AttemptSettings
from backchannel.model import AuditEntry, RecipientRecord, RecipientState
from backchannel.store import recipients as recipient_store

NEW_YORK = ZoneInfo("America/New_York")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def batch_recipient(pool: asyncpg.Pool, cron: str, start: datetime) -> None:
    now = datetime.now(UTC)
    record = RecipientRecord(
        id="nightly", display_name="", recipient_type="system", transport="webhook",
        transport_settings={"url": "http://127.0.0.1:9/never"}, sealed_secrets={},
        format="json", format_options={}, subscribed_kinds=(), subscribed_source_ids=(),
        state=RecipientState.ACTIVE, revision=1, create_time=now, update_time=now,
        batch={
            "schedule": {"cron": cron, "time_zone": "America/New_York"},
            "when_empty": "BATCH_WHEN_EMPTY_EMPTY_FILE",
        },
    )  # fmt: skip
    audit = AuditEntry("test", "local", "", "recipient.create", "recipients/nightly")
    await recipient_store.create_recipient(
        pool, record, audit, next_run(cron, "America/New_York", start)
    )


@pytest.fixture
async def engine_and_clock(
    store_pool: asyncpg.Pool,
) -> AsyncIterator[tuple[BatchEngine, Clock]]:
    clock = Clock(datetime(2026, 1, 1, tzinfo=UTC))
    plugins: Any = None  # only schedules are run here: nothing is sent
    engine = BatchEngine(
        store_pool,
        plugins,
        AttemptSettings(retry_schedule=(0.0,), send_deadline=5.0, worker_id="test"),
        update_health=lambda health, outcomes, now: (health, [], None),
        lease_seconds=30,
        poll_interval=1,
        clock=clock,
    )
    yield engine, clock
    await engine.stop(grace=5)


async def runs(pool: asyncpg.Pool) -> list[datetime]:
    rows = await pool.fetch("SELECT period_end FROM batches ORDER BY sequence")
    return [row["period_end"].astimezone(NEW_YORK) for row in rows]


async def tick_through(engine: BatchEngine, clock: Clock, end: datetime, step: timedelta) -> None:
    while clock.now < end:
        clock.now += step
        await engine.run_due_schedules()


async def test_a_run_at_0230_on_the_spring_forward_night_runs_once_at_0330(
    store_pool: asyncpg.Pool, engine_and_clock: tuple[BatchEngine, Clock]
) -> None:
    engine, clock = engine_and_clock
    clock.now = datetime(2026, 3, 7, 12, tzinfo=UTC)
    await batch_recipient(store_pool, "30 2 * * *", clock.now)
    await tick_through(engine, clock, datetime(2026, 3, 9, 12, tzinfo=UTC), timedelta(minutes=20))
    assert [(t.date().isoformat(), t.strftime("%H:%M")) for t in await runs(store_pool)] == [
        ("2026-03-08", "03:30"),
        ("2026-03-09", "02:30"),
    ]


async def test_a_run_at_0130_on_the_fall_back_night_runs_once(
    store_pool: asyncpg.Pool, engine_and_clock: tuple[BatchEngine, Clock]
) -> None:
    engine, clock = engine_and_clock
    clock.now = datetime(2026, 10, 31, 12, tzinfo=UTC)
    await batch_recipient(store_pool, "30 1 * * *", clock.now)
    await tick_through(engine, clock, datetime(2026, 11, 2, 12, tzinfo=UTC), timedelta(minutes=10))
    found = await runs(store_pool)
    assert [t.date().isoformat() for t in found] == ["2026-11-01", "2026-11-02"]
    assert found[0].utcoffset() == timedelta(hours=-4), "the first 01:30 of the night"


async def test_runs_missed_while_nothing_was_up_run_once_and_the_next_is_counted_from_now(
    store_pool: asyncpg.Pool, engine_and_clock: tuple[BatchEngine, Clock]
) -> None:
    engine, clock = engine_and_clock
    clock.now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    await batch_recipient(store_pool, "0 2 * * *", clock.now)
    clock.now = datetime(2026, 5, 6, 12, tzinfo=UTC)  # five nightly runs missed
    await engine.run_due_schedules()
    await engine.run_due_schedules()
    assert len(await runs(store_pool)) == 1
    next_due = await store_pool.fetchval("SELECT next_run_at FROM batch_schedules")
    assert next_due.astimezone(NEW_YORK) == datetime(2026, 5, 7, 2, tzinfo=NEW_YORK)


async def test_two_engines_run_one_occurrence_once(
    store_pool: asyncpg.Pool, engine_and_clock: tuple[BatchEngine, Clock]
) -> None:
    engine, clock = engine_and_clock
    clock.now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    await batch_recipient(store_pool, "0 2 * * *", clock.now)
    other = BatchEngine(
        store_pool, None, AttemptSettings(retry_schedule=(0.0,), send_deadline=5.0,
        worker_id="other"), update_health=lambda h, o, n: (h, [], None), lease_seconds=30,
        poll_interval=1, clock=clock,
    )  # fmt: skip
    clock.now = datetime(2026, 6, 2, 7, tzinfo=UTC)
    import asyncio

    await asyncio.gather(engine.run_due_schedules(), other.run_due_schedules())
    await other.stop(grace=5)
    assert len(await runs(store_pool)) == 1
