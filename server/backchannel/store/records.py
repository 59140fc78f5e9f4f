"""Rows the store hands to the rest of the server.

Records made for every accept or attempt are named tuples, the others frozen dataclasses:
both are immutable, and a named tuple is built in a third of the time (a frozen
dataclass sets each field through object.__setattr__; an event has 32 fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple


@dataclass(frozen=True)
class RecipientRecord:
    id: str
    display_name: str
    recipient_type: str
    transport: str
    transport_settings: dict[str, Any]
    secret_settings: dict[str, Any]
    format: str
    format_options: dict[str, Any]
    subscribed_kinds: tuple[str, ...]
    subscribed_source_ids: tuple[str, ...]
    state: str
    revision: int
    create_time: datetime
    update_time: datetime
    #: Delays before each retry, seconds; None: the server's schedule.
    retry_delays: tuple[float, ...] | None = None
    #: Most attempts in all; 0: one more than the retry delays.
    max_attempts: int = 0
    #: No retry once this many seconds passed since the policy started; None: no limit.
    max_age_seconds: float | None = None
    max_per_second: float = 0.0
    burst: int = 0
    max_concurrency: int = 0
    ordered_delivery: bool = False
    disabled_reason: str = ""

    @property
    def limited(self) -> bool:
        return self.max_per_second > 0 or self.max_concurrency > 0


@dataclass(frozen=True)
class RecipientHealthRecord:
    recipient_id: str
    consecutive_failures: int
    failing_since: datetime | None
    last_success_time: datetime | None
    circuit_state: str
    open_until: datetime | None
    open_count: int
    window_start: datetime
    window_attempts: int
    window_failures: int
    tokens: float
    tokens_time: datetime


class NewDelivery(NamedTuple):
    id: str
    recipient_id: str
    state: str


class NewFeedback(NamedTuple):
    """One accepted SendFeedback, ready to be written with its deliveries."""

    id: str
    request_id: str
    request_digest: bytes
    kind: str
    lead_id: str
    source_id: str
    record: bytes
    response: bytes
    traceparent: str | None
    accept_time: datetime
    deliveries: tuple[NewDelivery, ...]
    #: The recipient directory version the deliveries' recipients were chosen at; the
    #: feedback is stored only if it is still current. None: stored without that check.
    directory_version: int | None


class StoredAnswer(NamedTuple):
    """What the store holds for a request id: the first answer and what it answered."""

    request_id: str
    request_digest: bytes
    response: bytes
    #: Stored by the statement that answered, not by an earlier request.
    stored_now: bool = False


class ClaimedDelivery(NamedTuple):
    delivery_id: str
    feedback_id: str
    attempt: int
    lease_token: str
    record: bytes
    traceparent: str | None
    accept_time: datetime
    recipient: RecipientRecord
    #: Who asked for this attempt, when an operator did.
    requested_by: str = ""
    #: Attempts made before the retry policy (re)started.
    policy_attempt_offset: int = 0
    #: When the retry policy (re)started: accept time, or an operator's retry.
    policy_start_time: datetime | None = None


@dataclass(frozen=True)
class DeliveryRow:
    id: str
    feedback_id: str
    recipient_id: str
    state: str
    attempt_count: int
    next_attempt_time: datetime
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class EventPosition:
    """A place in the event log: (writing transaction id, sequence number)."""

    xid: int
    seq: int

    def __lt__(self, other: EventPosition) -> bool:
        return (self.xid, self.seq) < (other.xid, other.seq)

    def __le__(self, other: EventPosition) -> bool:
        return (self.xid, self.seq) <= (other.xid, other.seq)


ORIGIN = EventPosition(0, 0)


class EventRecord(NamedTuple):
    position: EventPosition
    id: str
    feedback_id: str
    delivery_id: str
    attempt: int
    recipient_id: str
    recipient_type: str
    transport: str
    format_name: str
    content_type: str
    aggregation_level: str
    processing_status: str
    response_code: int
    response_excerpt: str
    remote_id: str
    start_time: datetime
    end_time: datetime
    latency_us: int
    content_size: int
    content_sha256: str
    trace_id: str
    span_id: str
    plugin_distribution: str
    plugin_version: str
    server_version: str
    worker_id: str
    next_attempt_time: datetime | None
    lead_id: str
    source_id: str
    #: "transmission" for a feedback-sent event; otherwise an operator event type
    #: (recipient_failing, circuit_opened, delivery_exhausted, recipient_disabled...).
    category: str = "transmission"
    message: str = ""
    requested_by: str = ""


class OpenDeliveryCounts(NamedTuple):
    """How many deliveries are not finished, by state."""

    pending_due: int
    pending_later: int
    in_flight: int
    held: int


class AttemptOutcome(NamedTuple):
    """The result of one attempt, to record as an event and a delivery state change."""

    event: EventRecord
    lease_token: str
    new_state: str
    next_attempt_time: datetime | None
    #: The recipient said it no longer exists (HTTP 410): disable it.
    recipient_gone: bool = False


@dataclass(frozen=True)
class EventFilter:
    recipient_ids: tuple[str, ...] = ()
    feedback_id: str | None = None
    delivery_id: str | None = None
    lead_id: str | None = None
    source_id: str | None = None
    transport: str | None = None
    processing_statuses: tuple[str, ...] = ()
    start_time_min: datetime | None = None
    start_time_min_inclusive: bool = True
    start_time_max: datetime | None = None
    start_time_max_inclusive: bool = True
    #: Categories to include: transmissions only, or operator events too.
    categories: tuple[str, ...] = ("transmission",)

    def matches(self, event: EventRecord) -> bool:
        if event.category != "transmission":
            return "operator" in self.categories and (
                not self.recipient_ids or event.recipient_id in self.recipient_ids
            )
        return (
            "transmission" in self.categories
            and (not self.recipient_ids or event.recipient_id in self.recipient_ids)
            and (self.feedback_id is None or event.feedback_id == self.feedback_id)
            and (self.delivery_id is None or event.delivery_id == self.delivery_id)
            and (self.lead_id is None or event.lead_id == self.lead_id)
            and (self.source_id is None or event.source_id == self.source_id)
            and (self.transport is None or event.transport == self.transport)
            and (
                not self.processing_statuses or event.processing_status in self.processing_statuses
            )
            and _within(
                event.start_time,
                self.start_time_min,
                self.start_time_min_inclusive,
                self.start_time_max,
                self.start_time_max_inclusive,
            )
        )


def _within(
    value: datetime,
    low: datetime | None,
    low_inclusive: bool,
    high: datetime | None,
    high_inclusive: bool,
) -> bool:
    if low is not None and (value < low or (value == low and not low_inclusive)):
        return False
    return not (high is not None and (value > high or (value == high and not high_inclusive)))
