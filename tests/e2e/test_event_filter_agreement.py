"""Replay (the store's SQL) and live streams (EventFilter.matches) select the same events
for any filter: both come from the one table of filterable fields, and this property test
holds them to it over random filters on a log of varied events."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backchannel.event_filter import (
    EVERY_EVENT,
    FILTER_FIELDS,
    OPERATORS,
    Condition,
    EventFilter,
    FieldKind,
    Operator,
)
from backchannel.ids import new_id
from backchannel.model import (
    ORIGIN,
    AggregationLevel,
    EventCategory,
    EventRecord,
    ProcessingStatus,
)
from backchannel.store.event_rows import write_events
from backchannel.store.events import read_events

BASE = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
#: A few moments, so equality and both sides of every bound are exercised.
MOMENTS = [
    BASE + timedelta(seconds=s, microseconds=u) for s, u in ((0, 0), (1, 5), (2, 0), (60, 1))
]
TEXT_VALUES = {
    "recipient_id": ["acme", "beta", "gamma"],
    "feedback_id": ["fb_1", "fb_2", "fb_3"],
    "delivery_id": ["dlv_1", "dlv_2", "dlv_3"],
    "lead_id": ["LC1", "LC2", ""],
    "source_id": ["SOURCE_A", "SOURCE_B"],
    "transport": ["webhook", "sftp", "email"],
    "origin_trace_id": ["4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"],
    "trace_id": ["5b8aa5a2d2c872e8321cf37308d69df2", "c3b2a1f0e9d8c7b6a5f4e3d2c1b0a998", ""],
    "batch_id": ["bat_1", "bat_2", ""],
    "report_id": ["rpt_1", "rpt_2", ""],
}


def random_event(rng: random.Random) -> EventRecord:
    operator_event = rng.random() < 0.2
    moment = rng.choice(MOMENTS)
    pick = {name: rng.choice(values) for name, values in TEXT_VALUES.items()}
    return EventRecord(
        position=ORIGIN, id=new_id("evt"), feedback_id=pick["feedback_id"],
        delivery_id=pick["delivery_id"], attempt=1, recipient_id=pick["recipient_id"],
        recipient_type="source", transport="" if operator_event else pick["transport"],
        format_name="json", content_type="application/json",
        aggregation_level=None if operator_event else AggregationLevel.INDIVIDUAL,
        processing_status=None if operator_event else rng.choice(list(ProcessingStatus)),
        response_code=200, response_excerpt="", remote_id="", start_time=moment,
        end_time=moment, latency_us=1, content_size=0, content_sha256="",
        trace_id="" if operator_event else pick["trace_id"],
        span_id="", plugin_distribution="", plugin_version="", server_version="",
        worker_id="test", next_attempt_time=None,
        lead_id="" if operator_event else pick["lead_id"],
        source_id="" if operator_event else pick["source_id"],
        category=EventCategory.CIRCUIT_OPENED if operator_event else EventCategory.TRANSMISSION,
        origin_trace_id="" if operator_event else pick["origin_trace_id"],
        batch_id=pick["batch_id"], report_id=pick["report_id"],
    )  # fmt: skip


@pytest.fixture
async def event_log(
    store_pool: asyncpg.Pool,
) -> AsyncIterator[tuple[asyncpg.Pool, list[EventRecord]]]:
    rng = random.Random(20241215)
    async with store_pool.acquire() as connection:
        await write_events(connection, [random_event(rng) for _ in range(400)])
    stored = await read_events(store_pool, ORIGIN, 10_000, EVERY_EVENT)
    assert len(stored) == 400
    yield store_pool, stored


def values_of(field_name: str) -> st.SearchStrategy[object]:
    kind = FILTER_FIELDS[field_name].kind
    if kind is FieldKind.STATUS:
        return st.sampled_from(list(ProcessingStatus))
    if kind is FieldKind.TIME:
        near = [m + timedelta(microseconds=d) for m in MOMENTS for d in (-1, 0, 1)]
        return st.sampled_from(near)
    return st.sampled_from([*TEXT_VALUES[field_name], "absent"])


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    name = draw(st.sampled_from(list(FILTER_FIELDS)))
    op = draw(st.sampled_from(OPERATORS[FILTER_FIELDS[name].kind]))
    count = draw(st.integers(1, 3)) if op is Operator.EQ else 1
    values = tuple(draw(st.lists(values_of(name), min_size=count, max_size=count)))
    return Condition(FILTER_FIELDS[name], op, values)  # type: ignore[arg-type]


filters = st.builds(
    EventFilter,
    conditions=st.lists(conditions(), max_size=4).map(tuple),
    include_transmissions=st.booleans(),
    include_operator_events=st.booleans(),
)


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(event_filter=filters)
async def test_the_sql_predicate_and_the_live_match_select_the_same_events(
    event_log: tuple[asyncpg.Pool, list[EventRecord]], event_filter: EventFilter
) -> None:
    pool, stored = event_log
    replayed = await read_events(pool, ORIGIN, 10_000, event_filter)
    assert [e.id for e in replayed] == [e.id for e in stored if event_filter.matches(e)]


async def test_the_log_holds_matches_for_the_property_to_be_worth_anything(
    event_log: tuple[asyncpg.Pool, list[EventRecord]],
) -> None:
    """The property above would hold vacuously if no filter matched anything."""
    pool, stored = event_log
    wanted = EventFilter.where(recipient_id="acme", transport=["sftp", "email"])
    replayed = await read_events(pool, ORIGIN, 10_000, wanted)
    assert 10 < len(replayed) < len(stored) / 2
    late = EventFilter((Condition(FILTER_FIELDS["start_time"], Operator.GE, (MOMENTS[1],)),))
    assert 0 < len(await read_events(pool, ORIGIN, 10_000, late)) < len(stored)


def every_single_condition() -> list[Condition]:
    """Each field with each operator it takes and each value worth trying."""
    found = []
    for name, field in FILTER_FIELDS.items():
        if field.kind is FieldKind.STATUS:
            values: list[object] = list(ProcessingStatus)
        elif field.kind is FieldKind.TIME:
            values = [m + timedelta(microseconds=d) for m in MOMENTS for d in (-1, 0, 1)]
        else:
            values = [*TEXT_VALUES[name], "absent"]
        for op in OPERATORS[field.kind]:
            found += [Condition(field, op, (value,)) for value in values]  # type: ignore[arg-type]
        found.append(Condition(field, Operator.EQ, tuple(values[:2])))  # type: ignore[arg-type]
    return found


async def test_every_single_condition_selects_the_same_events_both_ways(
    event_log: tuple[asyncpg.Pool, list[EventRecord]],
) -> None:
    pool, stored = event_log
    for single in every_single_condition():
        for operator_events in (False, True):
            event_filter = EventFilter((single,), include_operator_events=operator_events)
            replayed = await read_events(pool, ORIGIN, 10_000, event_filter)
            expected = [e.id for e in stored if event_filter.matches(e)]
            assert [e.id for e in replayed] == expected, event_filter
