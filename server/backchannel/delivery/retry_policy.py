"""What happens after an attempt: done, retry later, or give up."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import NamedTuple

from backchannel.model import DeliveryState, ProcessingStatus, RecipientRecord
from backchannel.plugin import DeliveryResult

#: Retry-After is honoured up to this many seconds.
MAX_RETRY_AFTER_SECONDS = 3600.0
JITTER = 0.2
#: Answers that mean "slow down": they impose a minimum delay.
THROTTLING_CODES = frozenset({429, 502, 503, 504})


class RetryPolicy(NamedTuple):
    #: The delay before each retry, seconds; the last repeats if attempts outnumber it.
    retry_delays: tuple[float, ...]
    max_attempts: int
    max_age_seconds: float | None = None
    throttle_min_delay: float = 5.0

    @classmethod
    def for_recipient(
        cls,
        recipient: RecipientRecord,
        default_schedule: tuple[float, ...],
        throttle_min_delay: float,
    ) -> RetryPolicy:
        """``default_schedule`` is the server's delay before each attempt (first usually 0)."""
        delays = (
            recipient.retry_delays if recipient.retry_delays is not None else default_schedule[1:]
        )
        max_attempts = recipient.max_attempts or (
            len(delays) + 1 if recipient.retry_delays is not None else len(default_schedule)
        )
        return cls(delays, max_attempts, recipient.max_age_seconds, throttle_min_delay)


class NextStep(NamedTuple):
    delivery_state: DeliveryState
    processing_status: ProcessingStatus
    next_attempt_time: datetime | None


_SUCCEEDED = NextStep(DeliveryState.SUCCEEDED, ProcessingStatus.SUCCEEDED, None)
_FAILED = NextStep(DeliveryState.FAILED, ProcessingStatus.FAILED, None)
_DEAD = NextStep(DeliveryState.DEAD, ProcessingStatus.DEAD, None)
#: Not sent for want of consent (backchannel.consent_gate): final, and never retried.
SUPPRESSED = NextStep(DeliveryState.SUPPRESSED, ProcessingStatus.SUPPRESSED, None)


def next_step(
    attempt: int,
    result: DeliveryResult,
    policy: RetryPolicy,
    now: datetime,
    policy_start: datetime,
) -> NextStep:
    """``attempt`` counts from 1 since the policy started (accept, or an operator retry)."""
    if result.succeeded:
        return _SUCCEEDED
    if not result.retryable or result.gone:
        return _FAILED
    if attempt >= policy.max_attempts:
        return _DEAD
    delays = policy.retry_delays or (0.0,)
    delay = delays[min(attempt - 1, len(delays) - 1)] * random.uniform(1 - JITTER, 1 + JITTER)
    if result.remote_code in THROTTLING_CODES:
        delay = max(delay, policy.throttle_min_delay)
    if result.retry_after is not None:
        delay = max(delay, min(max(result.retry_after, 0.0), MAX_RETRY_AFTER_SECONDS))
    due = now + timedelta(seconds=delay)
    if policy.max_age_seconds is not None and due > policy_start + timedelta(
        seconds=policy.max_age_seconds
    ):
        return _DEAD
    return NextStep(DeliveryState.PENDING, ProcessingStatus.RETRY_SCHEDULED, due)
