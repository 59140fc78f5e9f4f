"""What happens after an attempt: done, retry later, or give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from backchannel.plugin import DeliveryResult

#: Retry-After is honoured up to this many seconds.
MAX_RETRY_AFTER_SECONDS = 3600.0
JITTER = 0.2


@dataclass(frozen=True)
class NextStep:
    delivery_state: str
    processing_status: str
    next_attempt_time: datetime | None


def next_step(
    attempt: int, result: DeliveryResult, schedule: tuple[float, ...], now: datetime
) -> NextStep:
    """``schedule[n]`` is the delay before attempt n+1; its length is the attempt limit."""
    if result.succeeded:
        return NextStep("succeeded", "succeeded", None)
    if not result.retryable or result.gone:
        return NextStep("failed", "failed", None)
    if attempt >= len(schedule):
        return NextStep("dead", "dead", None)
    delay = schedule[attempt] * random.uniform(1 - JITTER, 1 + JITTER)
    if result.retry_after is not None:
        delay = max(delay, min(max(result.retry_after, 0.0), MAX_RETRY_AFTER_SECONDS))
    return NextStep("pending", "retry_scheduled", now + timedelta(seconds=delay))
