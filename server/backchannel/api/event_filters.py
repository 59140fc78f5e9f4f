"""The AIP-160 subset ListFeedbackEvents accepts, parsed into a store EventFilter:
comparisons joined by AND, e.g.
``recipient_id = "acme" AND start_time >= "2024-01-01T00:00:00Z"``."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any

import grpc

from backchannel.api.conversions import PROCESSING_STATUS_VALUES
from backchannel.api.errors import ApiError
from backchannel.model import EventFilter

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op><=|>=|!=|=|<|>)|(?P<word>[^\s"<>=!]+))'
)
_TEXT_FIELDS = ("recipient_id", "feedback_id", "delivery_id", "lead_id", "source_id", "transport")


def _error(problem: str) -> ApiError:
    return ApiError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        f"filter: {problem}",
        [("filter", problem)],
    )


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip() == "":
                break
            raise _error(f"cannot read the filter at {text[position : position + 20]!r}")
        tokens.append(match.group(0).strip())
        position = match.end()
    return [t for t in tokens if t]


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_event_filter(text: str) -> EventFilter | None:
    """The filter; None when its comparisons contradict each other (nothing matches)."""
    result = EventFilter()
    contradictory = False
    tokens = _tokens(text)
    index = 0
    while index < len(tokens):
        if len(tokens) - index < 3:
            raise _error('expected a comparison like recipient_id = "acme"')
        field, op, raw = tokens[index : index + 3]
        value = _unquote(raw)
        index += 3
        if field in _TEXT_FIELDS:
            if op != "=":
                raise _error(f"{field} only supports =")
            if field == "recipient_id":
                contradictory |= bool(result.recipient_ids) and result.recipient_ids != (value,)
                result = replace(result, recipient_ids=(value,))
            else:
                earlier = getattr(result, field)
                contradictory |= earlier is not None and earlier != value
                text_fields: dict[str, Any] = {field: value}
                result = replace(result, **text_fields)
        elif field == "processing_status":
            name = value.lower().removeprefix("processing_status_")
            if op != "=" or name not in PROCESSING_STATUS_VALUES:
                raise _error(
                    "processing_status = one of "
                    + ", ".join(s.upper() for s in PROCESSING_STATUS_VALUES)
                )
            contradictory |= bool(result.processing_statuses) and (
                result.processing_statuses != (name,)
            )
            result = replace(result, processing_statuses=(name,))
        elif field == "start_time":
            if op == "!=":
                raise _error("start_time supports =, <, <=, >, >=")
            result = _narrow_start_time(result, op, _moment(value))
        else:
            raise _error(
                f"unknown field {field!r}; filterable: "
                + ", ".join((*_TEXT_FIELDS, "processing_status", "start_time"))
            )
        if index < len(tokens):
            if tokens[index].upper() != "AND":
                raise _error(f"expected AND between comparisons, got {tokens[index]!r}")
            index += 1
            if index == len(tokens):
                raise _error("AND must be followed by a comparison")
    if contradictory or _empty_time_range(result):
        return None
    return result


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise _error(f"start_time needs an RFC 3339 time, got {value!r}") from error
    if moment.tzinfo is None:
        raise _error("start_time needs a time zone, e.g. 2024-01-01T00:00:00Z")
    return moment


def _narrow_start_time(result: EventFilter, op: str, moment: datetime) -> EventFilter:
    """ANDs one bound into the filter: the tighter bound wins."""
    if op in (">", ">=", "="):
        inclusive = op != ">"
        low = result.start_time_min
        if low is None or moment > low or (moment == low and not inclusive):
            result = replace(result, start_time_min=moment, start_time_min_inclusive=inclusive)
    if op in ("<", "<=", "="):
        inclusive = op != "<"
        high = result.start_time_max
        if high is None or moment < high or (moment == high and not inclusive):
            result = replace(result, start_time_max=moment, start_time_max_inclusive=inclusive)
    return result


def _empty_time_range(result: EventFilter) -> bool:
    low, high = result.start_time_min, result.start_time_max
    if low is None or high is None:
        return False
    both_inclusive = result.start_time_min_inclusive and result.start_time_max_inclusive
    return low > high or (low == high and not both_inclusive)
