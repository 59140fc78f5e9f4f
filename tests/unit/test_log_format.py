"""JSON log lines: one object a line with the logger's name, the current trace and span
ids, and the recipient and delivery ids of the attempt being made."""

from __future__ import annotations

import json
import logging

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from backchannel.logs import JsonFormatter, about_delivery


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "backchannel.delivery", logging.WARNING, __file__, 1, message, (), None
    )
    record.__dict__.update(extra)
    return record


def test_a_line_names_the_logger_level_and_message_and_no_ids_it_does_not_know() -> None:
    line = json.loads(JsonFormatter().format(_record("hello")))
    assert (line["logger"], line["level"], line["message"]) == (
        "backchannel.delivery", "WARNING", "hello",
    )  # fmt: skip
    assert not {"trace_id", "span_id", "recipient_id", "delivery_id"} & set(line)


def test_a_line_carries_the_current_spans_ids_and_the_attempts_ids() -> None:
    span = NonRecordingSpan(
        SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, False, TraceFlags(1))
    )
    with trace.use_span(span), about_delivery("acme", "dlv_1"):
        line = json.loads(JsonFormatter().format(_record("failed")))
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert line["span_id"] == "00f067aa0ba902b7"
    assert (line["recipient_id"], line["delivery_id"]) == ("acme", "dlv_1")


def test_ids_given_with_the_record_win_over_the_attempts() -> None:
    with about_delivery("acme", "dlv_1"):
        line = json.loads(JsonFormatter().format(_record("x", recipient_id="other")))
    assert (line["recipient_id"], line["delivery_id"]) == ("other", "dlv_1")
