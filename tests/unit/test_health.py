"""health.advance_health and failing_too_long: the circuit breaker and failure tracking as
a function of the previous health and one attempt's outcome."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from backchannel.delivery.health import (
    BreakerPolicy,
    HealthChange,
    advance_health,
    failing_too_long,
)
from backchannel.model import CircuitState, RecipientHealthRecord

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
POLICY = BreakerPolicy(
    failure_threshold=3,
    failure_rate=0.5,
    min_window_attempts=20,
    window_seconds=60.0,
    open_seconds=30.0,
    max_open_seconds=600.0,
    auto_disable_after_seconds=3600.0,
)
#: Consecutive failures never open the circuit: only the failure rate can.
RATE_ONLY = dataclasses.replace(POLICY, failure_threshold=1000)


def healthy(**changes: object) -> RecipientHealthRecord:
    health = RecipientHealthRecord(
        recipient_id="acme",
        consecutive_failures=0,
        failing_since=None,
        last_success_time=None,
        circuit_state=CircuitState.CLOSED,
        open_until=None,
        open_count=0,
        window_start=NOW,
        window_attempts=0,
        window_failures=0,
        tokens=0.0,
        tokens_time=NOW,
    )
    return dataclasses.replace(health, **changes)  # type: ignore[arg-type]


def run(
    health: RecipientHealthRecord,
    outcomes: list[bool],
    policy: BreakerPolicy = POLICY,
    start: datetime = NOW,
    step: timedelta = timedelta(seconds=1),
) -> tuple[RecipientHealthRecord, list[list[HealthChange]]]:
    """Feeds ``outcomes`` (True: succeeded) one ``step`` apart; the health after them and
    the changes each produced."""
    changes: list[list[HealthChange]] = []
    now = start
    for succeeded in outcomes:
        health, produced = advance_health(health, succeeded, now, policy)
        changes.append(produced)
        now += step
    return health, changes


def categories(changes: list[HealthChange]) -> list[str]:
    return [c.category for c in changes]


def test_failures_below_the_threshold_keep_the_circuit_closed() -> None:
    health, _ = run(healthy(), [False, False])
    assert (health.circuit_state, health.consecutive_failures) == ("closed", 2)


def test_the_threshold_of_consecutive_failures_opens_the_circuit_for_open_seconds() -> None:
    health, changes = run(healthy(), [False, False, False])
    assert health.circuit_state == "open"
    assert health.open_until == NOW + timedelta(seconds=2 + 30)
    assert "circuit_opened" in categories(changes[2])
    assert "circuit_opened" not in categories(changes[0]) + categories(changes[1])


def test_a_success_between_failures_restarts_the_count() -> None:
    health, _ = run(healthy(), [False, False, True, False, False])
    assert (health.circuit_state, health.consecutive_failures) == ("closed", 2)


def test_a_failure_rate_over_the_window_opens_the_circuit() -> None:
    alternating = [True, False] * 10  # never two failures in a row; half of 20 failed
    health, changes = run(healthy(), alternating, RATE_ONLY)
    assert health.circuit_state == "open"
    assert "circuit_opened" in categories(changes[-1])
    assert all("circuit_opened" not in categories(c) for c in changes[:-1])


def test_the_failure_rate_needs_the_minimum_number_of_attempts() -> None:
    health, _ = run(healthy(), [True, False] * 9, RATE_ONLY)
    assert health.circuit_state == "closed"


def test_attempts_older_than_the_window_do_not_count_towards_the_rate() -> None:
    # 20 attempts, half failed, but spread over more than one 60 s window.
    health, _ = run(healthy(), [True, False] * 10, RATE_ONLY, step=timedelta(seconds=5))
    assert health.circuit_state == "closed"


def test_a_failed_probe_reopens_the_circuit_for_twice_as_long() -> None:
    half_open = healthy(
        circuit_state="half_open", open_count=1, consecutive_failures=3, failing_since=NOW
    )
    health, [changes] = run(half_open, [False])
    assert health.circuit_state == "open"
    assert health.open_until == NOW + timedelta(seconds=60)
    assert health.open_count == 2
    assert categories(changes) == ["circuit_opened"]


def test_the_reopened_cool_down_is_capped() -> None:
    half_open = healthy(
        circuit_state="half_open", open_count=9, consecutive_failures=30, failing_since=NOW
    )
    health, _ = run(half_open, [False])
    assert health.open_until == NOW + timedelta(seconds=600)


def test_a_successful_probe_closes_the_circuit_and_the_recipient_recovers() -> None:
    half_open = healthy(
        circuit_state="half_open",
        open_until=NOW + timedelta(seconds=60),
        open_count=2,
        consecutive_failures=7,
        failing_since=NOW - timedelta(minutes=5),
    )
    health, [changes] = run(half_open, [True])
    assert health.circuit_state == "closed"
    assert (health.open_until, health.open_count) == (None, 0)
    assert (health.consecutive_failures, health.failing_since) == (0, None)
    assert health.last_success_time == NOW
    assert sorted(categories(changes)) == ["circuit_closed", "recipient_recovered"]


def test_after_closing_the_next_opening_waits_open_seconds_again() -> None:
    half_open = healthy(circuit_state="half_open", open_count=3, consecutive_failures=9)
    health, _ = run(half_open, [True, False, False, False])
    assert health.open_until == NOW + timedelta(seconds=3 + 30)


def test_a_success_of_a_healthy_recipient_announces_nothing() -> None:
    _, [changes] = run(healthy(), [True])
    assert changes == []


def test_the_first_failure_sets_failing_since_and_announces_failing_once() -> None:
    health, changes = run(healthy(), [False, False])
    assert health.failing_since == NOW
    assert categories(changes[0]) == ["recipient_failing"]
    assert "recipient_failing" not in categories(changes[1])


def test_failing_since_is_cleared_by_a_success_and_set_again_by_the_next_failure() -> None:
    later = NOW + timedelta(seconds=2)
    health, _ = run(healthy(), [False, True, False])
    assert health.failing_since == later


def test_failing_for_the_auto_disable_window_is_failing_too_long() -> None:
    health = healthy(failing_since=NOW - timedelta(seconds=3600), consecutive_failures=9)
    assert failing_too_long(health, NOW, POLICY)


def test_failing_for_less_than_the_auto_disable_window_is_not_too_long() -> None:
    health = healthy(failing_since=NOW - timedelta(seconds=3599), consecutive_failures=9)
    assert not failing_too_long(health, NOW, POLICY)


def test_a_healthy_recipient_is_never_failing_too_long() -> None:
    health = healthy(last_success_time=NOW - timedelta(days=365))
    assert not failing_too_long(health, NOW, POLICY)
