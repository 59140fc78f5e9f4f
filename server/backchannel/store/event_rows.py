"""Writing rows of the event log: feedback-sent events and operator events."""

from __future__ import annotations

from collections.abc import Sequence

from backchannel.model import (
    AttemptOutcome,
    EventRecord,
    RecipientHealthRecord,
)
from backchannel.store.database import DbConnection
from backchannel.store.queries import sql


def event_values(e: EventRecord) -> tuple[object, ...]:
    return (
        e.id, e.feedback_id, e.delivery_id, e.attempt, e.recipient_id, e.recipient_type,
        e.transport, e.format_name, e.content_type, e.aggregation_level or "",
        e.processing_status or "",
        e.response_code, e.response_excerpt, e.remote_id, e.start_time, e.end_time,
        e.latency_us, e.content_size, e.content_sha256, e.trace_id, e.span_id,
        e.plugin_distribution, e.plugin_version, e.server_version, e.worker_id,
        e.next_attempt_time, e.lead_id, e.source_id, e.category, e.message, e.requested_by,
    )  # fmt: skip


def _health_values(health: RecipientHealthRecord) -> tuple[object, ...]:
    """The health columns record_events takes, in its order."""
    return (
        health.recipient_id, health.consecutive_failures, health.failing_since,
        health.last_success_time, health.circuit_state, health.open_until,
        health.open_count, health.window_start, health.window_attempts,
        health.window_failures,
    )  # fmt: skip


async def write_events(
    connection: DbConnection,
    events: Sequence[EventRecord],
    health: Sequence[RecipientHealthRecord] = (),
    outcomes: Sequence[AttemptOutcome] = (),
) -> None:
    """Inserts ``events``, saves ``health`` and moves the deliveries of ``outcomes`` on, in
    one statement (record_events)."""
    await connection.execute(
        sql("record_events"),
        *_columns([_health_values(h) for h in health], 10),
        *_columns([event_values(e) for e in events], 31),
        [o.event.delivery_id for o in outcomes],
        [o.lease_token for o in outcomes],
        [o.new_state for o in outcomes],
        [o.next_attempt_time for o in outcomes],
    )


def _columns(rows: Sequence[tuple[object, ...]], width: int) -> list[list[object]]:
    """The rows as ``width`` column lists (the arrays a statement unnests)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]
