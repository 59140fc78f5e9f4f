"""Admission: whether a due delivery may go now, given its recipient's circuit breaker and
limits. Pure functions of the state the store read; the claim applies what they decide.

A closed circuit with no limits needs none of this: such deliveries are claimed in one
statement (``claim_admission_free``). The rest come here, one recipient at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from backchannel.model import CircuitState, DeliveryLimits, TokenBucket

#: How long a delivery held back by a half-open circuit or a concurrency limit waits
#: before it is looked at again.
RECHECK = timedelta(milliseconds=250)


class CircuitVerdict(Enum):
    #: The circuit is closed: the limits decide.
    PASS = "pass"
    #: Open or half-open and still cooling down (or a probe is out): everything waits.
    WAIT = "wait"
    #: The cool-down is over: one delivery may go as the probe, if this claim wins it.
    PROBE = "probe"


@dataclass(frozen=True)
class CircuitAdmission:
    verdict: CircuitVerdict
    #: For WAIT: when to look again.
    wait_until: datetime | None = None


def circuit_admission(
    circuit_state: CircuitState | None, open_until: datetime | None, now: datetime
) -> CircuitAdmission:
    """What a recipient's circuit lets through now (no health row yet: closed)."""
    if circuit_state is None or circuit_state == CircuitState.CLOSED:
        return CircuitAdmission(CircuitVerdict.PASS)
    if open_until is not None and open_until > now:
        # Open: wait out the cool-down. Half-open: a probe is out; wait for its outcome.
        wait_until = open_until if circuit_state == CircuitState.OPEN else now + RECHECK
        return CircuitAdmission(CircuitVerdict.WAIT, wait_until)
    return CircuitAdmission(CircuitVerdict.PROBE)


def probe_prefers_retry(open_count: int) -> bool:
    """Which lane a circuit's probe is taken from: probes alternate between retries (the
    first probe after the circuit opens, and every other one) and first attempts, so a
    recipient that refuses only one kind (an endpoint that takes an id only when it comes
    again refuses every first attempt) still gets a probe it accepts."""
    return open_count % 2 == 1


@dataclass(frozen=True)
class LimitedRoom:
    #: How many of the wanted deliveries may go now.
    room: int
    #: How long the others wait.
    wait: timedelta
    #: The bucket after taking ``room`` tokens; None when the recipient has no rate limit.
    bucket: TokenBucket | None


def limited_room(
    limits: DeliveryLimits, bucket: TokenBucket, in_flight: int, wanted: int, now: datetime
) -> LimitedRoom:
    """How many of ``wanted`` deliveries a limited recipient takes now: no more than its
    concurrency limit leaves (given ``in_flight``) and its token bucket holds."""
    room, wait = wanted, RECHECK
    if limits.max_concurrency > 0:
        room = max(0, min(room, limits.max_concurrency - in_flight))
    if limits.max_per_second <= 0:
        return LimitedRoom(room, wait, None)
    rate = limits.max_per_second
    elapsed = max(0.0, (now - bucket.time).total_seconds())
    tokens = min(float(limits.bucket_size), bucket.tokens + elapsed * rate)
    if math.floor(tokens) < room:
        room = math.floor(tokens)
        wait = timedelta(seconds=max(0.01, (1.0 - (tokens - room)) / rate))
    return LimitedRoom(room, wait, TokenBucket(tokens - room, now))
