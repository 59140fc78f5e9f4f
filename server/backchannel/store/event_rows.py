"""Writing rows of the event log: feedback-sent events and operator events."""

from __future__ import annotations

from collections.abc import Sequence

from backchannel.model import AttemptOutcome, EventRecord, RecipientHealthRecord
from backchannel.store.database import DbConnection
from backchannel.store.queries import execute

#: The event fields written, each to the ``feedback_events`` column of its name (the
#: position is the table's own: its writing transaction and sequence).
EVENT_COLUMNS = tuple(name for name in EventRecord._fields if name != "position")
#: The health fields record_events saves (the token bucket is the claims' own).
HEALTH_COLUMNS = (
    "recipient_id", "consecutive_failures", "failing_since", "last_success_time",
    "circuit_state", "open_until", "open_count", "window_start", "window_attempts",
    "window_failures",
)  # fmt: skip
#: Written as empty text when absent (operator events have neither).
_EMPTY_WHEN_NONE = frozenset(("aggregation_level", "processing_status"))


def _event_arrays(events: Sequence[EventRecord]) -> dict[str, list[object]]:
    """One array per column, named ``event_<column>``: the events' values in order."""
    arrays: dict[str, list[object]] = {}
    for index, name in enumerate(EVENT_COLUMNS, start=1):
        values: list[object] = [event[index] for event in events]
        if name in _EMPTY_WHEN_NONE:
            values = [value or "" for value in values]
        elif name == "details":
            values = [dict(pairs) for pairs in values]  # type: ignore[call-overload]
        arrays[f"event_{name}"] = values
    return arrays


def _health_arrays(health: Sequence[RecipientHealthRecord]) -> dict[str, list[object]]:
    return {f"health_{name}": [getattr(h, name) for h in health] for name in HEALTH_COLUMNS}


async def write_events(
    connection: DbConnection,
    events: Sequence[EventRecord],
    health: Sequence[RecipientHealthRecord] = (),
    outcomes: Sequence[AttemptOutcome] = (),
) -> None:
    """Inserts ``events``, saves ``health`` and moves the deliveries of ``outcomes`` on, in
    one statement (record_events)."""
    await execute(
        connection,
        "record_events",
        **_health_arrays(health),
        **_event_arrays(events),
        delivery_id=[o.event.delivery_id for o in outcomes],
        delivery_lease_token=[o.lease_token for o in outcomes],
        delivery_state=[o.new_state for o in outcomes],
        delivery_next_attempt_time=[o.next_attempt_time for o in outcomes],
    )
