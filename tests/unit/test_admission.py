"""delivery.admission: what a recipient's circuit breaker and limits let through, as pure
functions of the state a claim read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backchannel.delivery.admission import (
    RECHECK,
    CircuitVerdict,
    circuit_admission,
    limited_room,
    probe_prefers_retry,
)
from backchannel.model import CircuitState, DeliveryLimits, TokenBucket

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)


@pytest.mark.parametrize("state", [None, CircuitState.CLOSED])
def test_a_closed_circuit_or_none_yet_lets_the_limits_decide(state: CircuitState | None) -> None:
    assert circuit_admission(state, None, NOW).verdict is CircuitVerdict.PASS


def test_an_open_circuit_cooling_down_holds_everything_until_it_ends() -> None:
    admission = circuit_admission(CircuitState.OPEN, LATER, NOW)
    assert admission.verdict is CircuitVerdict.WAIT and admission.wait_until == LATER


def test_a_half_open_circuit_with_its_probe_out_rechecks_soon() -> None:
    admission = circuit_admission(CircuitState.HALF_OPEN, LATER, NOW)
    assert admission.verdict is CircuitVerdict.WAIT and admission.wait_until == NOW + RECHECK


@pytest.mark.parametrize("state", [CircuitState.OPEN, CircuitState.HALF_OPEN])
def test_a_circuit_whose_cool_down_is_over_lets_one_probe_go(state: CircuitState) -> None:
    assert circuit_admission(state, NOW, NOW).verdict is CircuitVerdict.PROBE
    assert circuit_admission(state, None, NOW).verdict is CircuitVerdict.PROBE


def test_a_concurrency_limit_admits_what_in_flight_leaves() -> None:
    limits = DeliveryLimits(max_per_second=0.0, burst=0, max_concurrency=5)
    room = limited_room(limits, TokenBucket(0.0, NOW), in_flight=3, wanted=10, now=NOW)
    assert (room.room, room.wait, room.bucket) == (2, RECHECK, None)
    full = limited_room(limits, TokenBucket(0.0, NOW), in_flight=7, wanted=10, now=NOW)
    assert full.room == 0


def test_the_token_bucket_refills_at_the_rate_up_to_its_size() -> None:
    limits = DeliveryLimits(max_per_second=2.0, burst=4, max_concurrency=0)
    # Empty two seconds ago: four tokens back, capped at the burst.
    room = limited_room(limits, TokenBucket(0.0, NOW - timedelta(seconds=10)), 0, 10, NOW)
    assert room.room == 4
    assert room.bucket == TokenBucket(0.0, NOW)
    # The fifth waits for the next token: half a second at 2 per second.
    assert room.wait == timedelta(seconds=0.5)


def test_a_bucket_without_a_burst_holds_one_seconds_worth() -> None:
    limits = DeliveryLimits(max_per_second=2.5, burst=0, max_concurrency=0)
    assert limits.bucket_size == 3
    assert DeliveryLimits(0.2, 0, 0).bucket_size == 1


def test_a_partial_token_shortens_the_wait() -> None:
    limits = DeliveryLimits(max_per_second=1.0, burst=1, max_concurrency=0)
    room = limited_room(limits, TokenBucket(0.75, NOW), 0, 1, NOW)
    assert room.room == 0
    assert room.wait == timedelta(seconds=0.25)
    assert room.bucket == TokenBucket(0.75, NOW)


def test_both_limits_apply_together() -> None:
    limits = DeliveryLimits(max_per_second=10.0, burst=10, max_concurrency=2)
    room = limited_room(limits, TokenBucket(10.0, NOW), in_flight=1, wanted=5, now=NOW)
    assert room.room == 1
    assert room.bucket == TokenBucket(9.0, NOW)


def test_circuit_probes_alternate_between_retries_and_first_attempts() -> None:
    # open_count is 1 when the circuit first opens, and grows with each failed probe.
    lanes = [probe_prefers_retry(open_count) for open_count in range(1, 5)]
    assert lanes == [True, False, True, False]
