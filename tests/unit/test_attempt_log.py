"""Delivery failures and health changes are logged once committed, at most one line per
recipient and kind per interval, the next line telling how many were held back."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from backchannel.delivery.attempt_log import AttemptLog
from backchannel.ids import new_id
from backchannel.log_throttle import LogThrottle
from backchannel.model import (
    ORIGIN,
    AggregationLevel,
    EventCategory,
    EventRecord,
    ProcessingStatus,
    operator_event,
)

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _attempt(recipient_id: str, status: ProcessingStatus, excerpt: str = "") -> EventRecord:
    return EventRecord(
        position=ORIGIN, id=new_id("evt"), feedback_id="fb_1", delivery_id=new_id("dlv"),
        attempt=1, recipient_id=recipient_id, recipient_type="source", transport="webhook",
        format_name="json", content_type="application/json",
        aggregation_level=AggregationLevel.INDIVIDUAL, processing_status=status,
        response_code=503, response_excerpt=excerpt, remote_id="", start_time=NOW,
        end_time=NOW, latency_us=1, content_size=0, content_sha256="", trace_id="",
        span_id="", plugin_distribution="", plugin_version="", server_version="",
        worker_id="w", next_attempt_time=None, lead_id="", source_id="",
    )  # fmt: skip


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="backchannel.delivery")
    return caplog


def test_a_failed_attempt_is_logged_with_its_ids_and_a_success_is_not(
    lines: pytest.LogCaptureFixture,
) -> None:
    failed = _attempt("acme", ProcessingStatus.RETRY_SCHEDULED, "503 busy")
    AttemptLog().recorded([_attempt("acme", ProcessingStatus.SUCCEEDED), failed])

    [record] = lines.records
    assert record.levelno == logging.WARNING
    assert "503 busy" in record.getMessage() and "acme" in record.getMessage()
    assert (record.recipient_id, record.delivery_id) == ("acme", failed.delivery_id)  # type: ignore[attr-defined]


def test_a_recipient_failing_without_pause_gets_one_line_per_interval_with_the_count(
    lines: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    attempt_log = AttemptLog(interval=60, clock=clock)
    for _ in range(1000):
        attempt_log.recorded([_attempt("acme", ProcessingStatus.FAILED)])
        clock.now += 0.01
    attempt_log.recorded([_attempt("beta", ProcessingStatus.FAILED)])
    clock.now = 61
    attempt_log.recorded([_attempt("acme", ProcessingStatus.FAILED)])

    messages = [r.getMessage() for r in lines.records]
    assert len(messages) == 3
    assert "acme" in messages[0] and "not logged" not in messages[0]
    assert "beta" in messages[1]
    assert "(999 failed attempts in the last 60 s not logged)" in messages[2]


def test_circuit_changes_are_logged_apart_from_failures(
    lines: pytest.LogCaptureFixture,
) -> None:
    attempt_log = AttemptLog(interval=60, clock=Clock())
    attempt_log.recorded(
        [
            _attempt("acme", ProcessingStatus.FAILED),
            operator_event(EventCategory.CIRCUIT_OPENED, "acme", "5 failures in a row", NOW),
            operator_event(EventCategory.CIRCUIT_CLOSED, "acme", "a probe succeeded", NOW),
        ]
    )

    opened, closed = lines.records[1:]
    assert (opened.levelno, closed.levelno) == (logging.WARNING, logging.INFO)
    assert "circuit opened: 5 failures in a row" in opened.getMessage()
    assert "circuit closed" in closed.getMessage()


def test_a_throttle_keeps_admitting_new_keys_past_its_size() -> None:
    clock = Clock()
    throttle = LogThrottle(60, clock, max_keys=4)
    assert [throttle.admit(key) for key in range(10)] == [0] * 10
    assert throttle.admit(9) is None
