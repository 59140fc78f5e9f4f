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
from backchannel.store.records import EventFilter

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


def parse_event_filter(text: str) -> EventFilter:
    result = EventFilter()
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
                result = replace(result, recipient_ids=(value,))
            else:
                text_fields: dict[str, Any] = {field: value}
                result = replace(result, **text_fields)
        elif field == "processing_status":
            name = value.lower().removeprefix("processing_status_")
            if op != "=" or name not in PROCESSING_STATUS_VALUES:
                raise _error(
                    "processing_status = one of "
                    + ", ".join(s.upper() for s in PROCESSING_STATUS_VALUES)
                )
            result = replace(result, processing_statuses=(name,))
        elif field == "start_time":
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as error:
                raise _error(f"start_time needs an RFC 3339 time, got {value!r}") from error
            if moment.tzinfo is None:
                raise _error("start_time needs a time zone, e.g. 2024-01-01T00:00:00Z")
            if op in (">", ">=", "="):
                result = replace(result, start_time_min=moment, start_time_min_inclusive=op != ">")
            if op in ("<", "<=", "="):
                result = replace(result, start_time_max=moment, start_time_max_inclusive=op != "<")
            if op == "!=":
                raise _error("start_time supports =, <, <=, >, >=")
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
    return result
