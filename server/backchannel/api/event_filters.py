"""The AIP-160 subset event filters are written in (``ListFeedbackEvents.filter`` and a
stream filter's ``expression``): comparisons joined by AND, e.g.
``recipient_id = "acme" AND start_time >= "2024-01-01T00:00:00Z"``.

The fields, and what each may be compared with, come from the one table of filterable
fields (``backchannel.event_filter.FILTER_FIELDS``); nothing here names a field. The audit
trail's filter is written in the same grammar over a table of its own
(:func:`parse_conditions`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

import grpc

from backchannel.api.errors import ApiError
from backchannel.event_filter import (
    FILTER_FIELDS,
    OPERATORS,
    Condition,
    EventFilter,
    FieldKind,
    FilterField,
    Operator,
)
from backchannel.model import ProcessingStatus

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op><=|>=|!=|=|<|>)|(?P<word>[^\s"<>=!]+))'
)
#: Filters longer than this are refused: no real filter needs more.
MAX_FILTER_LENGTH = 4096


def _error(field: str, problem: str) -> ApiError:
    return ApiError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        f"{field}: {problem}",
        [(field, problem)],
    )


def _tokens(text: str, field: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip() == "":
                break
            raise _error(field, f"cannot read the filter at {text[position : position + 20]!r}")
        tokens.append(match.group(0).strip())
        position = match.end()
    return [t for t in tokens if t]


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_event_filter(text: str, field: str = "filter") -> EventFilter:
    """The filter ``text`` says; ``field`` names it in errors (every problem found is
    INVALID_ARGUMENT)."""
    return EventFilter(parse_conditions(text, field, FILTER_FIELDS))


def parse_conditions(
    text: str, field: str, fields: Mapping[str, FilterField]
) -> tuple[Condition, ...]:
    """The comparisons ``text`` makes of the ``fields`` it may name (every problem found
    is INVALID_ARGUMENT, naming ``field``)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _error(field, f"is longer than {MAX_FILTER_LENGTH} characters")
    if "\x00" in text:
        raise _error(field, "contains a NUL character")
    conditions: list[Condition] = []
    tokens = _tokens(text, field)
    index = 0
    while index < len(tokens):
        if len(tokens) - index < 3:
            raise _error(field, 'expected a comparison like recipient_id = "acme"')
        name, op, raw = tokens[index : index + 3]
        index += 3
        filter_field = fields.get(name)
        if filter_field is None:
            raise _error(field, f"unknown field {name!r}; filterable: {', '.join(fields)}")
        allowed = OPERATORS[filter_field.kind]
        if op not in allowed:
            raise _error(field, f"{name} supports {', '.join(allowed)}")
        value = _value(filter_field, _unquote(raw), field)
        conditions.append(Condition(filter_field, Operator(op), (value,)))
        if index < len(tokens):
            if tokens[index].upper() != "AND":
                raise _error(field, f"expected AND between comparisons, got {tokens[index]!r}")
            index += 1
            if index == len(tokens):
                raise _error(field, "AND must be followed by a comparison")
    return tuple(conditions)


def _value(filter_field: FilterField, value: str, field: str) -> str | ProcessingStatus | datetime:
    if filter_field.kind is FieldKind.STATUS:
        name = value.lower().removeprefix("processing_status_")
        try:
            return ProcessingStatus(name)
        except ValueError:
            raise _error(
                field,
                f"{filter_field.name} = one of " + ", ".join(s.name for s in ProcessingStatus),
            ) from None
    if filter_field.kind is FieldKind.TIME:
        return _moment(filter_field.name, value, field)
    return value


def _moment(name: str, value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise _error(field, f"{name} needs an RFC 3339 time, got {value!r}") from error
    if moment.tzinfo is None:
        raise _error(field, f"{name} needs a time zone, e.g. 2024-01-01T00:00:00Z")
    try:
        # Postgres is sent the moment in UTC: it must be a date there too.
        return moment.astimezone(UTC)
    except OverflowError:
        raise _error(field, f"{name} {value!r} is outside years 1 to 9999 in UTC") from None
