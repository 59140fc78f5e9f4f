"""Reading the feedback-sent event log in cursor order, and pruning it."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache

import asyncpg

from backchannel.event_filter import FILTER_FIELDS, EventFilter, FieldKind, Operator
from backchannel.model import (
    ORIGIN,
    AggregationLevel,
    EventCategory,
    EventPosition,
    EventRecord,
    ProcessingStatus,
)
from backchannel.store.queries import (
    Statement,
    compile_statement,
    execute,
    fetch,
    fetchrow,
    fetchval,
    source,
)

#: Beyond any position a real transaction can have.
END = EventPosition(2**62, 2**62)

#: The line of read_events.sql that the filter's predicate replaces.
_FILTER_LINE = "AND true -- the filter"
_SQL_TYPES = {FieldKind.TEXT: "text", FieldKind.STATUS: "text", FieldKind.TIME: "timestamptz"}


def event_from_row(row: asyncpg.Record) -> EventRecord:
    values = dict(row)
    position = EventPosition(values.pop("xid"), values.pop("seq"))
    level, status = values.pop("aggregation_level"), values.pop("processing_status")
    details = values.pop("details")
    if isinstance(details, str):  # a connection without the jsonb codec
        details = json.loads(details)
    return EventRecord(
        position=position,
        aggregation_level=AggregationLevel(level) if level else None,
        processing_status=ProcessingStatus(status) if status else None,
        category=EventCategory(values.pop("category")),
        details=tuple(details.items()),
        **values,
    )


#: What a filter's SQL depends on: each condition's field, operator and whether it has
#: several values; and which kinds of event it includes. Not the values compared with.
_Shape = tuple[tuple[tuple[str, Operator, bool], ...], bool, bool]


@lru_cache(maxsize=256)
def _read_events_statement(shape: _Shape) -> Statement:
    """read_events.sql with the predicate of filters of this shape; the values of the
    n-th condition are parameter ``c<n>``."""
    conditions, transmissions, operator_events = shape
    on_transmissions, on_operator_events = [], []
    for index, (name, op, several) in enumerate(conditions):
        field = FILTER_FIELDS[name]
        sql_type = _SQL_TYPES[field.kind]
        if several:
            comparison = f"e.{field.name} = ANY(:c{index}::{sql_type}[])"
        else:
            comparison = f"e.{field.name} {op.value} :c{index}::{sql_type}"
        on_transmissions.append(comparison)
        if field.on_operator_events:
            on_operator_events.append(comparison)
    predicate = (
        f"AND ((e.category = 'transmission' AND {transmissions}"
        + "".join(f" AND {c}" for c in on_transmissions)
        + f") OR (e.category <> 'transmission' AND {operator_events}"
        + "".join(f" AND {c}" for c in on_operator_events)
        + "))"
    )
    text = source("read_events")
    assert _FILTER_LINE in text
    return compile_statement("read_events", text.replace(_FILTER_LINE, predicate))


async def read_events(
    pool: asyncpg.Pool,
    after: EventPosition,
    limit: int,
    event_filter: EventFilter,
    up_to: EventPosition = END,
) -> list[EventRecord]:
    """Events after ``after`` and at or before ``up_to`` that ``event_filter`` wants,
    oldest first, at most ``limit``."""
    shape = (
        tuple((c.field.name, c.operator, len(c.values) > 1) for c in event_filter.conditions),
        event_filter.include_transmissions,
        event_filter.include_operator_events,
    )
    values = {
        f"c{index}": (list(c.values) if len(c.values) > 1 else c.values[0])
        for index, c in enumerate(event_filter.conditions)
    }
    rows = await fetch(
        pool,
        _read_events_statement(shape),
        after_xid=after.xid,
        after_seq=after.seq,
        up_to_xid=up_to.xid,
        up_to_seq=up_to.seq,
        limit=limit,
        **values,
    )
    return [event_from_row(row) for row in rows]


async def events_beyond_horizon(pool: asyncpg.Pool) -> bool:
    return bool(await fetchval(pool, "events_beyond_horizon"))


async def latest_readable_position(pool: asyncpg.Pool) -> EventPosition:
    row = await fetchrow(pool, "latest_readable_position")
    return ORIGIN if row is None else EventPosition(row["xid"], row["seq"])


async def position_is_in_the_future(pool: asyncpg.Pool, position: EventPosition) -> bool:
    return bool(
        await fetchval(pool, "position_is_in_the_future", xid=position.xid, seq=position.seq)
    )


async def retention_horizon(pool: asyncpg.Pool) -> EventPosition:
    """The newest position pruned; cursors before it are too old."""
    row = await fetchrow(pool, "select_retention_horizon")
    return ORIGIN if row is None else EventPosition(row["pruned_xid"], row["pruned_seq"])


async def prune_events(pool: asyncpg.Pool, started_before: datetime) -> None:
    await execute(pool, "prune_events", started_before=started_before)


async def events_of_feedback(pool: asyncpg.Pool, feedback_id: str) -> list[EventRecord]:
    rows = await fetch(pool, "select_events_of_feedback", feedback_id=feedback_id)
    return [event_from_row(row) for row in rows]
