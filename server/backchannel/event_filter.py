"""Which events a reader wants, defined once.

``FILTER_FIELDS`` is the one table of what an event can be filtered on. The List filter's
parser (``api.event_filters``), the store's SQL predicate (``store.events``) and the live
match of stream subscribers (:meth:`EventFilter.matches`) are all derived from it, so a
new filterable field is one line here (and, if it is not yet one, a column of
``feedback_events`` and an attribute of ``EventRecord`` of the same name). A property
test checks that the SQL and the live match agree.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, NamedTuple

from backchannel.model import EventCategory, EventRecord, ProcessingStatus


class FieldKind(Enum):
    #: Compared for equality with text.
    TEXT = "text"
    #: A processing status, written by its name (SUCCEEDED, or processing_status_succeeded).
    STATUS = "status"
    #: A moment, written in RFC 3339; ordered.
    TIME = "time"


class Operator(StrEnum):
    EQ = "="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


#: What each kind of field may be compared with.
OPERATORS: dict[FieldKind, tuple[Operator, ...]] = {
    FieldKind.TEXT: (Operator.EQ,),
    FieldKind.STATUS: (Operator.EQ,),
    FieldKind.TIME: tuple(Operator),
}


@dataclass(frozen=True)
class FilterField:
    #: Its name in a filter, which is also the ``EventRecord`` attribute and the
    #: ``feedback_events`` column it reads.
    name: str
    kind: FieldKind
    #: Operator events are matched on it too; other fields select transmissions only
    #: (an operator event has no lead, status or transport).
    on_operator_events: bool = False


FILTER_FIELDS: dict[str, FilterField] = {
    field.name: field
    for field in (
        FilterField("recipient_id", FieldKind.TEXT, on_operator_events=True),
        FilterField("feedback_id", FieldKind.TEXT),
        FilterField("delivery_id", FieldKind.TEXT),
        FilterField("lead_id", FieldKind.TEXT),
        FilterField("source_id", FieldKind.TEXT),
        FilterField("transport", FieldKind.TEXT),
        FilterField("batch_id", FieldKind.TEXT, on_operator_events=True),
        FilterField("report_id", FieldKind.TEXT),
        FilterField("processing_status", FieldKind.STATUS),
        FilterField("start_time", FieldKind.TIME),
        FilterField("origin_trace_id", FieldKind.TEXT),
        FilterField("trace_id", FieldKind.TEXT),
    )
}

_COMPARE: dict[Operator, Callable[[Any, Any], bool]] = {
    Operator.LT: operator.lt,
    Operator.LE: operator.le,
    Operator.GT: operator.gt,
    Operator.GE: operator.ge,
}


class Condition(NamedTuple):
    """One comparison: ``field`` equals any of ``values`` (``=``), or compares with the one
    value (``<``, ``<=``, ``>``, ``>=``)."""

    field: FilterField
    operator: Operator
    values: tuple[str | ProcessingStatus | datetime, ...]

    def holds(self, event: EventRecord) -> bool:
        value = getattr(event, self.field.name)
        if self.operator is Operator.EQ:
            return value in self.values
        return _COMPARE[self.operator](value, self.values[0])


def condition(name: str, operator_: Operator | str, *values: Any) -> Condition:
    """The condition on the field called ``name`` (a ``KeyError`` if there is none)."""
    op = Operator(operator_)
    if op is not Operator.EQ and len(values) != 1:
        raise ValueError(f"{name} {op} takes exactly one value")
    return Condition(FILTER_FIELDS[name], op, tuple(values))


@dataclass(frozen=True)
class EventFilter:
    """Every condition holds (AND); a condition with several values holds for any of them
    (OR). Operator events are included only when asked for, matched on the fields they
    carry (``on_operator_events``)."""

    conditions: tuple[Condition, ...] = ()
    include_transmissions: bool = True
    include_operator_events: bool = False

    @classmethod
    def where(
        cls,
        conditions: Iterable[Condition] = (),
        *,
        include_operator_events: bool = False,
        **equal_to: str | Iterable[str] | None,
    ) -> EventFilter:
        """A filter from conditions and ``field=value`` (or ``field=[any, of]``) equality
        shorthands; None or an empty list leaves a field out."""
        found = list(conditions)
        for name, wanted in equal_to.items():
            if wanted is None:
                continue
            values = (wanted,) if isinstance(wanted, str) else tuple(wanted)
            if values:
                found.append(condition(name, Operator.EQ, *values))
        return cls(tuple(found), include_operator_events=include_operator_events)

    def narrowed(self, conditions: Iterable[Condition]) -> EventFilter:
        """This filter with more conditions, which must hold as well."""
        return dataclasses.replace(self, conditions=self.conditions + tuple(conditions))

    def matches(self, event: EventRecord) -> bool:
        if event.category == EventCategory.TRANSMISSION:
            return self.include_transmissions and all(c.holds(event) for c in self.conditions)
        return self.include_operator_events and all(
            c.holds(event) for c in self.conditions if c.field.on_operator_events
        )


#: Every event, transmissions and operator events.
EVERY_EVENT = EventFilter(include_operator_events=True)
