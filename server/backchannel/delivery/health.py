"""Recipient health: the circuit breaker and failure tracking, as a pure function of the
previous state and one attempt's outcome. The store persists it; every replica shares it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from backchannel.model import (
    AttemptOutcome,
    CircuitState,
    DeliveryState,
    EventCategory,
    EventRecord,
    ProcessingStatus,
    RecipientHealthRecord,
    operator_event,
)

#: Moves a recipient's health on for a batch of its attempts: the new health, the operator
#: events that produces, and a reason to disable the recipient (None: keep it).
HealthUpdater = Callable[
    [RecipientHealthRecord, Sequence[AttemptOutcome], datetime],
    tuple[RecipientHealthRecord, list[EventRecord], str | None],
]


@dataclass(frozen=True)
class BreakerPolicy:
    #: Consecutive failures that open the circuit.
    failure_threshold: int = 5
    #: Share of failed attempts in the window that opens the circuit...
    failure_rate: float = 0.5
    #: ...once the window holds at least this many attempts.
    min_window_attempts: int = 20
    window_seconds: float = 60.0
    #: How long the circuit stays open the first time; doubled each time it reopens.
    open_seconds: float = 30.0
    max_open_seconds: float = 600.0
    #: A recipient failing without a single success for this long is disabled.
    auto_disable_after_seconds: float = 5 * 24 * 3600.0


@dataclass(frozen=True)
class HealthChange:
    """An operator event a change of health produced: (event type, message)."""

    category: EventCategory
    message: str


def advance_health(
    health: RecipientHealthRecord, succeeded: bool, now: datetime, policy: BreakerPolicy
) -> tuple[RecipientHealthRecord, list[HealthChange]]:
    changes: list[HealthChange] = []
    window_start, attempts, failures = (
        health.window_start,
        health.window_attempts,
        health.window_failures,
    )
    if (now - window_start).total_seconds() > policy.window_seconds:
        window_start, attempts, failures = now, 0, 0
    attempts += 1
    if succeeded:
        if health.failing_since is not None:
            changes.append(
                HealthChange(
                    EventCategory.RECIPIENT_RECOVERED,
                    f"succeeded again after {health.consecutive_failures} failed attempts",
                )
            )
        if health.circuit_state != CircuitState.CLOSED:
            changes.append(
                HealthChange(
                    EventCategory.CIRCUIT_CLOSED, "a probe succeeded; deliveries flow again"
                )
            )
        return (
            dataclasses.replace(
                health,
                consecutive_failures=0,
                failing_since=None,
                last_success_time=now,
                circuit_state=CircuitState.CLOSED,
                open_until=None,
                open_count=0,
                window_start=window_start,
                window_attempts=attempts,
                window_failures=failures,
            ),
            changes,
        )
    failures += 1
    consecutive = health.consecutive_failures + 1
    failing_since = health.failing_since
    if failing_since is None:
        failing_since = now
        changes.append(
            HealthChange(EventCategory.RECIPIENT_FAILING, "an attempt failed after a success")
        )
    state, open_until, open_count = health.circuit_state, health.open_until, health.open_count
    rate_tripped = (
        attempts >= policy.min_window_attempts and failures / attempts >= policy.failure_rate
    )
    if state == CircuitState.HALF_OPEN or (
        state == CircuitState.CLOSED and (consecutive >= policy.failure_threshold or rate_tripped)
    ):
        open_count += 1
        seconds = min(policy.open_seconds * 2 ** (open_count - 1), policy.max_open_seconds)
        state, open_until = CircuitState.OPEN, now + timedelta(seconds=seconds)
        why = (
            "the probe failed"
            if health.circuit_state == CircuitState.HALF_OPEN
            else (
                f"{consecutive} failures in a row"
                if consecutive >= policy.failure_threshold
                else f"{failures} of {attempts} attempts failed within {policy.window_seconds:g} s"
            )
        )
        changes.append(
            HealthChange(
                EventCategory.CIRCUIT_OPENED, f"{why}; deliveries wait {seconds:g} s for a probe"
            )
        )
    return (
        dataclasses.replace(
            health,
            consecutive_failures=consecutive,
            failing_since=failing_since,
            circuit_state=state,
            open_until=open_until,
            open_count=open_count,
            window_start=window_start,
            window_attempts=attempts,
            window_failures=failures,
        ),
        changes,
    )


def failing_too_long(health: RecipientHealthRecord, now: datetime, policy: BreakerPolicy) -> bool:
    return (
        health.failing_since is not None
        and (now - health.failing_since).total_seconds() >= policy.auto_disable_after_seconds
    )


def health_updater(policy: BreakerPolicy, worker_id: str) -> HealthUpdater:
    """How the recorder moves a recipient's health on for a batch of its attempts."""

    def update(
        health: RecipientHealthRecord, outcomes: Sequence[AttemptOutcome], now: datetime
    ) -> tuple[RecipientHealthRecord, list[EventRecord], str | None]:
        events: list[EventRecord] = []
        disable_reason: str | None = None
        for outcome in outcomes:
            sent = outcome.event
            if sent.processing_status == ProcessingStatus.SUPPRESSED:
                # Nothing was sent: it says nothing about how the recipient is doing.
                continue
            health, changes = advance_health(
                health, sent.processing_status == ProcessingStatus.SUCCEEDED, now, policy
            )
            events += [
                operator_event(
                    c.category, sent.recipient_id, c.message, now,
                    worker_id=worker_id, recipient_type=sent.recipient_type,
                )
                for c in changes
            ]  # fmt: skip
            if outcome.new_state == DeliveryState.DEAD:
                events.append(
                    operator_event(
                        EventCategory.DELIVERY_EXHAUSTED, sent.recipient_id,
                        f"delivery gave up after attempt {sent.attempt}: "
                        f"{sent.response_excerpt or 'no answer'}",
                        now, worker_id=worker_id, delivery_id=sent.delivery_id,
                        feedback_id=sent.feedback_id, recipient_type=sent.recipient_type,
                    )
                )  # fmt: skip
            if outcome.recipient_gone and disable_reason is None:
                disable_reason = "the endpoint answered 410 Gone"
        if disable_reason is None and failing_too_long(health, now, policy):
            assert health.failing_since is not None
            hours = (now - health.failing_since).total_seconds() / 3600
            disable_reason = f"failing for {hours:.1f} h without a success"
        if disable_reason is not None:
            events.append(
                operator_event(
                    EventCategory.RECIPIENT_DISABLED, health.recipient_id,
                    f"disabled: {disable_reason}", now, worker_id=worker_id,
                )
            )  # fmt: skip
        return health, events, disable_reason

    return update
