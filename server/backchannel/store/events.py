"""Reading the feedback-sent event log in cursor order, and pruning it."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from backchannel.model import (
    ORIGIN,
    AggregationLevel,
    EventCategory,
    EventFilter,
    EventPosition,
    EventRecord,
    ProcessingStatus,
)
from backchannel.store.queries import sql

NO_FILTER = EventFilter()

#: Beyond any position a real transaction can have.
END = EventPosition(2**62, 2**62)


def event_from_row(row: asyncpg.Record) -> EventRecord:
    values = dict(row)
    position = EventPosition(values.pop("xid"), values.pop("seq"))
    level, status = values.pop("aggregation_level"), values.pop("processing_status")
    return EventRecord(
        position=position,
        aggregation_level=AggregationLevel(level) if level else None,
        processing_status=ProcessingStatus(status) if status else None,
        category=EventCategory(values.pop("category")),
        **values,
    )


async def read_events(
    pool: asyncpg.Pool,
    after: EventPosition,
    limit: int,
    event_filter: EventFilter = NO_FILTER,
    up_to: EventPosition = END,
) -> list[EventRecord]:
    f = event_filter
    rows = await pool.fetch(
        sql("read_events"),
        after.xid, after.seq, up_to.xid, up_to.seq,
        list(f.recipient_ids), f.feedback_id, f.delivery_id, f.lead_id, f.source_id,
        f.transport, list(f.processing_statuses),
        f.start_time_min, f.start_time_min_inclusive,
        f.start_time_max, f.start_time_max_inclusive,
        limit,
        "transmission" in f.categories, "operator" in f.categories,
    )  # fmt: skip
    return [event_from_row(row) for row in rows]


async def events_beyond_horizon(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval(sql("events_beyond_horizon")))


async def latest_readable_position(pool: asyncpg.Pool) -> EventPosition:
    row = await pool.fetchrow(sql("latest_readable_position"))
    return ORIGIN if row is None else EventPosition(row["xid"], row["seq"])


async def position_is_in_the_future(pool: asyncpg.Pool, position: EventPosition) -> bool:
    return bool(await pool.fetchval(sql("position_is_in_the_future"), position.xid, position.seq))


async def retention_horizon(pool: asyncpg.Pool) -> EventPosition:
    """The newest position pruned; cursors before it are too old."""
    row = await pool.fetchrow(sql("select_retention_horizon"))
    return ORIGIN if row is None else EventPosition(row["pruned_xid"], row["pruned_seq"])


async def prune_events(pool: asyncpg.Pool, started_before: datetime) -> None:
    await pool.execute(sql("prune_events"), started_before)


async def events_of_feedback(pool: asyncpg.Pool, feedback_id: str) -> list[EventRecord]:
    rows = await pool.fetch(sql("select_events_of_feedback"), feedback_id)
    return [event_from_row(row) for row in rows]
