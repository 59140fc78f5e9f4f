"""The attempt recorder writes outcomes in batches; one outcome the database refuses is set
aside and logged, and never blocks the record of every other attempt."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg
import pytest
from support.due_deliveries import add_due_deliveries

from backchannel.delivery.claims import claim_due_deliveries
from backchannel.delivery.health import BreakerPolicy, health_updater
from backchannel.delivery.recorder import AttemptRecorder
from backchannel.ids import new_id
from backchannel.model import (
    ORIGIN,
    AggregationLevel,
    AttemptOutcome,
    ClaimedDelivery,
    DeliveryState,
    EventRecord,
    ProcessingStatus,
)
from backchannel.store.deliveries import RecipientRevisions


def succeeded(claimed: ClaimedDelivery, excerpt: str = "ok") -> AttemptOutcome:
    now = datetime.now(UTC)
    event = EventRecord(
        position=ORIGIN, id=new_id("evt"), feedback_id=claimed.feedback_id,
        delivery_id=claimed.delivery_id, attempt=claimed.attempt,
        recipient_id=claimed.recipient.id, recipient_type="source", transport="webhook",
        format_name="json", content_type="application/json",
        aggregation_level=AggregationLevel.INDIVIDUAL,
        processing_status=ProcessingStatus.SUCCEEDED, response_code=200,
        response_excerpt=excerpt, remote_id="", start_time=now, end_time=now, latency_us=1,
        content_size=2, content_sha256="", trace_id="", span_id="", plugin_distribution="",
        plugin_version="", server_version="", worker_id="test", next_attempt_time=None,
        lead_id="", source_id="S",
    )  # fmt: skip
    return AttemptOutcome(event, claimed.lease_token, DeliveryState.SUCCEEDED, None)


async def test_an_outcome_the_database_refuses_is_set_aside_and_the_others_recorded(
    store_pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    await add_due_deliveries(store_pool, "acme", 1, 3)
    batch = await claim_due_deliveries(store_pool, 10, 30.0, 10, RecipientRevisions())
    first, bad, last = sorted(batch.deliveries, key=lambda d: d.delivery_id)
    recorder = AttemptRecorder(store_pool, health_updater(BreakerPolicy(), "test"))
    recorder.start()
    try:
        # Postgres refuses NUL in text: the statement fails, the database is fine.
        for outcome in (
            succeeded(first),
            succeeded(bad, "echo \x00 of a bad answer"),
            succeeded(last),
        ):
            recorder.record(outcome)
        with caplog.at_level(logging.ERROR, logger="backchannel.delivery.recorder"):
            assert await recorder.flush(timeout=10.0), "recording stayed blocked"
    finally:
        await recorder.stop()

    recorded = await store_pool.fetch("SELECT delivery_id FROM feedback_events")
    assert sorted(r["delivery_id"] for r in recorded) == [first.delivery_id, last.delivery_id]
    states = dict(await store_pool.fetch("SELECT id, state FROM deliveries"))
    assert states == {
        first.delivery_id: "succeeded",
        bad.delivery_id: "in_flight",  # its lease expires; it is sent again
        last.delivery_id: "succeeded",
    }
    [set_aside] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert bad.delivery_id in set_aside.getMessage()
