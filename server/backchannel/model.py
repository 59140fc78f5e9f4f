"""The domain model: the states a delivery, an attempt, a recipient and its circuit go
through, and the records that flow between the API, the store and the delivery engine.

The store reads and writes these; it does not define them. States are ``StrEnum``s, so a
value read from a text column or compared with one is the same string.

Records made for every accept or attempt are named tuples, the others frozen dataclasses:
both are immutable, and a named tuple is built in a third of the time (a frozen dataclass
sets each field through ``object.__setattr__``; an event has over thirty fields).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from backchannel.ids import new_id


class DeliveryState(StrEnum):
    """Where a delivery (one feedback to one recipient: the outbox row) stands."""

    #: Waiting for its next attempt (due at ``next_attempt_time``).
    PENDING = "pending"
    #: Waiting for its recipient to be resumed or enabled; uses no attempts.
    HELD = "held"
    #: Claimed under a lease by a worker that is sending it.
    IN_FLIGHT = "in_flight"
    SUCCEEDED = "succeeded"
    #: Ended by a failure that trying again cannot fix.
    FAILED = "failed"
    #: Ended because its retry policy ran out.
    DEAD = "dead"
    #: Ended because its recipient was deleted.
    CANCELLED = "cancelled"
    #: Its recipient takes batch files: waiting for the next batch (never claimed alone).
    AWAITING_BATCH = "awaiting_batch"
    #: Taken by a batch (``batch_id``) that is being built or sent; ends with it.
    IN_BATCH = "in_batch"
    #: Ended unsent: its recipient requires consent the feedback does not grant.
    SUPPRESSED = "suppressed"

    @property
    def is_open(self) -> bool:
        return self in _OPEN_DELIVERY_STATES


_OPEN_DELIVERY_STATES = frozenset(
    (
        DeliveryState.PENDING,
        DeliveryState.HELD,
        DeliveryState.IN_FLIGHT,
        DeliveryState.AWAITING_BATCH,
        DeliveryState.IN_BATCH,
    )
)


class BatchState(StrEnum):
    """Where a batch file (an outbox row of its own) stands."""

    #: Members chosen (committed); the file is being written into the spool.
    BUILDING = "building"
    #: Written; waiting for its next attempt (due at ``next_attempt_time``).
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    #: Rows failed validation and the recipient holds such batches: waits for an operator.
    HELD = "held"
    #: Its recipient was deleted before it was sent.
    CANCELLED = "cancelled"


class ProcessingStatus(StrEnum):
    """What one transmission attempt came to, as its feedback-sent event says."""

    SUCCEEDED = "succeeded"
    RETRY_SCHEDULED = "retry_scheduled"
    FAILED = "failed"
    DEAD = "dead"
    #: Not sent: the recipient requires consent the feedback does not grant.
    SUPPRESSED = "suppressed"


class RecipientState(StrEnum):
    ACTIVE = "active"
    #: Paused by an operator: its deliveries wait (held).
    PAUSED = "paused"
    #: Disabled by an operator or by the server (410 Gone, failing too long).
    DISABLED = "disabled"


class CircuitState(StrEnum):
    """A recipient's circuit breaker."""

    CLOSED = "closed"
    #: Deliveries wait until ``open_until``, then one probe goes.
    OPEN = "open"
    #: A probe is in flight; the others wait for its outcome.
    HALF_OPEN = "half_open"


class EventCategory(StrEnum):
    """What an entry of the event log records: a transmission (a feedback-sent event) or
    one of the operator events, which share the log and its cursor."""

    TRANSMISSION = "transmission"
    RECIPIENT_FAILING = "recipient_failing"
    RECIPIENT_RECOVERED = "recipient_recovered"
    CIRCUIT_OPENED = "circuit_opened"
    CIRCUIT_CLOSED = "circuit_closed"
    DELIVERY_EXHAUSTED = "delivery_exhausted"
    RECIPIENT_DISABLED = "recipient_disabled"
    RECIPIENT_ENABLED = "recipient_enabled"
    BATCH_HELD = "batch_held"

    @property
    def is_operator_event(self) -> bool:
        return self != EventCategory.TRANSMISSION


class AggregationLevel(StrEnum):
    """What one transmission carried: one feedback, a batch file, or a summary report."""

    INDIVIDUAL = "individual"
    BATCH = "batch"
    SUMMARY = "summary"


class SealedSecret(NamedTuple):
    """One secret setting as stored: sealed with AES-256-GCM under the key ``key_id``, bound
    to its recipient and setting name (see backchannel.sealing.sealed_values)."""

    key_id: str
    nonce: bytes
    #: The ciphertext and its 16-byte tag.
    ciphertext: bytes


class SealedSubject(NamedTuple):
    """A feedback's subject (personal identifiers) as stored: sealed with AES-256-GCM under
    a data key of its own, which is sealed under the key ring's key ``key_id`` (see
    backchannel.sealing.subjects)."""

    nonce: bytes
    ciphertext: bytes
    key_id: str
    key_nonce: bytes
    wrapped_key: bytes


class WrappedKey(NamedTuple):
    """A subject's data key, sealed under the key ring's key ``key_id``."""

    key_id: str
    nonce: bytes
    wrapped: bytes


@dataclass(frozen=True)
class RecipientRecord:
    id: str
    display_name: str
    recipient_type: str
    transport: str
    transport_settings: dict[str, Any]
    #: The secret settings, sealed: opened only where a transport is called.
    sealed_secrets: Mapping[str, SealedSecret]
    format: str
    format_options: dict[str, Any]
    subscribed_kinds: tuple[str, ...]
    subscribed_source_ids: tuple[str, ...]
    state: RecipientState
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
    #: Batch settings (the ``BatchSettings`` message as proto JSON); None: individual.
    batch: dict[str, Any] | None = None
    #: The data policy (the ``DataPolicy`` message as proto JSON); None: the default.
    data_policy: dict[str, Any] | None = None
    #: Consent purposes a feedback must grant to be sent to it.
    required_consent_purposes: tuple[str, ...] = ()

    @property
    def limited(self) -> bool:
        return self.max_per_second > 0 or self.max_concurrency > 0

    @property
    def delivery_state(self) -> DeliveryState:
        """The state a new delivery to it starts in."""
        if self.batch is not None:
            return DeliveryState.AWAITING_BATCH
        return DeliveryState.PENDING if self.state == RecipientState.ACTIVE else DeliveryState.HELD


@dataclass(frozen=True)
class RecipientHealthRecord:
    recipient_id: str
    consecutive_failures: int
    failing_since: datetime | None
    last_success_time: datetime | None
    circuit_state: CircuitState
    open_until: datetime | None
    open_count: int
    window_start: datetime
    window_attempts: int
    window_failures: int
    tokens: float
    tokens_time: datetime


@dataclass(frozen=True)
class DeliveryLimits:
    """A recipient's delivery limits; 0 means none."""

    max_per_second: float
    burst: int
    max_concurrency: int

    @property
    def bucket_size(self) -> int:
        """Tokens the bucket holds when full: the burst, or one second's worth."""
        return self.burst or max(1, math.ceil(self.max_per_second))


@dataclass(frozen=True)
class TokenBucket:
    tokens: float
    #: When ``tokens`` was last computed.
    time: datetime


class NewDelivery(NamedTuple):
    id: str
    recipient_id: str
    state: DeliveryState


class FeedbackFacts(NamedTuple):
    """What the report rollups count of one feedback (backchannel.report.facts)."""

    #: The UTC hour its feedback_time falls in.
    hour: datetime
    #: ISO 4217 code of its outcome's value; "" when it has none.
    currency: str = ""
    #: The value's amount as written (a decimal); "" when it has none.
    amount: str = ""
    #: (dimension, score) pairs; dimension "" is the overall score.
    scores: tuple[tuple[str, float], ...] = ()
    #: A return's reason (code, else text); "" when not a return.
    return_reason: str = ""


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
    #: The trace id (hex) of the request that accepted it; on every event of its
    #: deliveries too.
    origin_trace_id: str = ""
    #: The W3C ``tracestate`` of that request, forwarded with outbound traceparents.
    tracestate: str | None = None
    #: The subject, sealed; never in ``record`` or ``response``.
    subject: SealedSubject | None = None
    #: What the report rollups count of it; None: counted by kind in its accept hour.
    facts: FeedbackFacts | None = None


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
    #: The trace id of the request that accepted the feedback.
    origin_trace_id: str = ""
    #: The W3C ``tracestate`` of that request.
    tracestate: str | None = None
    #: The feedback's subject, sealed; None when it has none (or it was erased).
    subject: SealedSubject | None = None


@dataclass(frozen=True)
class DeliveryRow:
    id: str
    feedback_id: str
    recipient_id: str
    state: DeliveryState
    attempt_count: int
    next_attempt_time: datetime
    create_time: datetime
    update_time: datetime
    #: The batch that took it, for a batch recipient.
    batch_id: str | None = None


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
    #: None for an operator event.
    aggregation_level: AggregationLevel | None
    #: None for an operator event.
    processing_status: ProcessingStatus | None
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
    category: EventCategory = EventCategory.TRANSMISSION
    message: str = ""
    requested_by: str = ""
    #: The trace id of the request that accepted the feedback (``trace_id`` is the
    #: attempt's own trace).
    origin_trace_id: str = ""
    #: For a batch transmission (and each of its members' events): the batch.
    batch_id: str = ""
    item_count: int = 0
    excluded_count: int = 0
    file_name: str = ""
    compression: str = ""
    encryption: str = ""
    #: What the transport says it put on the wire (None: it did not say; content_size and
    #: content_sha256 describe what the formatter produced); see delivery.reported_facts.
    transmitted_size: int | None = None
    transmitted_sha256: str = ""
    #: The transport's details of the attempt, redacted, less the span's facts.
    details: tuple[tuple[str, str], ...] = ()
    #: For a suppressed transmission: the consent purposes it lacked, comma-separated.
    missing_consent: str = ""
    #: For a summary report's transmission: the report and its period (``item_count``
    #: is the feedback it counts, ``delivery_id`` its run, ``file_name`` its file).
    report_id: str = ""
    period_start: datetime | None = None
    period_end: datetime | None = None


def operator_event(
    category: EventCategory, recipient_id: str, message: str, now: datetime, *, worker_id: str = "",
    delivery_id: str = "", feedback_id: str = "", recipient_type: str = "",
) -> EventRecord:  # fmt: skip
    """An operator event (a change of a recipient's health or state) at ``now``."""
    return EventRecord(
        position=ORIGIN, id=new_id("evt"), feedback_id=feedback_id, delivery_id=delivery_id,
        attempt=0, recipient_id=recipient_id, recipient_type=recipient_type, transport="",
        format_name="", content_type="", aggregation_level=None, processing_status=None,
        response_code=0, response_excerpt="", remote_id="", start_time=now, end_time=now,
        latency_us=0, content_size=0, content_sha256="", trace_id="", span_id="",
        plugin_distribution="", plugin_version="", server_version="", worker_id=worker_id,
        next_attempt_time=None, lead_id="", source_id="", category=category, message=message,
    )  # fmt: skip


class OpenDeliveryCounts(NamedTuple):
    """How many deliveries are not finished, by state."""

    pending_due: int
    pending_later: int
    in_flight: int
    held: int
    #: Seconds the oldest due pending delivery has been due; 0 when none is.
    oldest_due_seconds: float = 0.0


class AttemptOutcome(NamedTuple):
    """The result of one attempt, to record as an event and a delivery state change."""

    event: EventRecord
    lease_token: str
    new_state: DeliveryState
    next_attempt_time: datetime | None
    #: The recipient said it no longer exists (HTTP 410): disable it.
    recipient_gone: bool = False
    #: When the feedback was accepted (for the accept-to-delivered latency).
    accept_time: datetime | None = None


class Scope(StrEnum):
    """What a caller may do; each RPC needs one (api/method_scopes.py says which)."""

    FEEDBACK_SEND = "feedback:send"
    #: GetFeedback, ListFeedbackEvents, StreamFeedbackEvents.
    FEEDBACK_READ = "feedback:read"
    RECIPIENTS_READ = "recipients:read"
    RECIPIENTS_WRITE = "recipients:write"
    #: Retry, resend, recover.
    DELIVERIES_OPERATE = "deliveries:operate"
    TOKENS_ADMIN = "tokens:admin"
    AUDIT_READ = "audit:read"
    #: Reserved for erasure requests: may be granted, serves nothing yet.
    PRIVACY_ERASE = "privacy:erase"


ALL_SCOPES = frozenset(Scope)


def _within(inner: frozenset[str], outer: frozenset[str]) -> bool:
    """Whether a narrowing ``inner`` is at least as narrow as ``outer`` (empty: any)."""
    return not outer or (bool(inner) and inner <= outer)


@dataclass(frozen=True)
class Grant:
    """What a caller may do: its scopes, narrowed to some sources and to some recipients
    (an empty set narrows nothing)."""

    scopes: frozenset[Scope] = ALL_SCOPES
    source_ids: frozenset[str] = frozenset()
    recipient_ids: frozenset[str] = frozenset()

    def allows_source(self, source_id: str) -> bool:
        return not self.source_ids or source_id in self.source_ids

    def allows_recipient(self, recipient_id: str) -> bool:
        return not self.recipient_ids or recipient_id in self.recipient_ids

    def covers(self, other: Grant) -> bool:
        """Whether ``other`` grants nothing this one does not: a caller may hand on only
        what it holds."""
        return (
            other.scopes <= self.scopes
            and _within(other.source_ids, self.source_ids)
            and _within(other.recipient_ids, self.recipient_ids)
        )


@dataclass(frozen=True)
class NewToken:
    """A bearer token to store: only the SHA-256 of its text is kept."""

    id: str
    name: str
    sha256: bytes
    grant: Grant
    expire_time: datetime | None
    created_by: str


@dataclass(frozen=True)
class TokenRecord:
    """A stored bearer token (never its text)."""

    id: str
    name: str
    grant: Grant
    create_time: datetime
    expire_time: datetime | None
    last_use_time: datetime | None
    revoke_time: datetime | None
    created_by: str

    @property
    def revoked(self) -> bool:
        return self.revoke_time is not None


class FieldChange(NamedTuple):
    """One field an audited change touched. A secret's values are never kept: only what
    happened to it (``secret `bearer_token` replaced``)."""

    field: str
    old_value: str = ""
    new_value: str = ""
    #: For a secret: set, replaced or removed, in words; empty otherwise.
    secret: str = ""


class AuditEntry(NamedTuple):
    """One change made by a caller, recorded in the transaction that makes it."""

    actor: str
    #: anonymous, token, certificate or local (a command run against the database).
    actor_kind: str
    actor_token_id: str
    action: str
    #: What was changed, as a resource name: recipients/acme, tokens/tok_..., ...
    target: str
    changes: tuple[FieldChange, ...] = ()
    #: More about it, as (name, value) pairs, e.g. ("requested_by_note", "...").
    details: tuple[tuple[str, str], ...] = ()
    request_id: str = ""
    trace_id: str = ""
    #: The recipient and source it concerns, for readers whose grant is narrowed.
    recipient_id: str | None = None
    source_id: str | None = None


class AuditRecord(NamedTuple):
    """An audit entry as stored: its place in the trail, id and time added."""

    seq: int
    id: str
    create_time: datetime
    entry: AuditEntry


@dataclass(frozen=True)
class BatchRow:
    """A batch as stored."""

    id: str
    recipient_id: str
    sequence: int
    state: BatchState
    period_start: datetime | None
    period_end: datetime
    run_time: datetime
    attempt_count: int
    next_attempt_time: datetime
    file_name: str
    content_type: str
    size: int
    sha256: str
    row_count: int
    excluded_count: int
    excluded: tuple[tuple[str, str], ...]
    reason: str
    compression: str
    encryption: str
    format_name: str
    create_time: datetime
    update_time: datetime


class ClaimedBatch(NamedTuple):
    """A pending batch claimed under a lease for one attempt."""

    batch: BatchRow
    lease_token: str
    spool_oid: int
    manifest_oid: int | None
    manifest_name: str
    done_name: str
    recipient: RecipientRecord
    requested_by: str
    policy_attempt_offset: int
    policy_start_time: datetime


class BatchMember(NamedTuple):
    """One delivery in a batch, with what its row is made from."""

    delivery_id: str
    feedback_id: str
    lead_id: str
    source_id: str
    record: bytes


class ReportSection(StrEnum):
    """A section of a summary report (backchannel.report.figures defines each figure)."""

    VOLUME = "volume"
    CONVERSIONS = "conversions"
    REVENUE = "revenue"
    RETURNS = "returns"
    QUALITY = "quality"
    TREND = "trend"
    BENCHMARK = "benchmark"


class ReportRunState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"


@dataclass(frozen=True)
class ReportDefinition:
    """A summary report: who gets it, about which sources, when, and what it shows."""

    id: str
    recipient_id: str
    title: str
    #: Empty with ``every_source``.
    source_ids: tuple[str, ...]
    every_source: bool
    sections: tuple[ReportSection, ...]
    #: "json", "html", or "" (html for an email recipient, json otherwise).
    format: str
    cron: str
    time_zone: str
    benchmark_min_sources: int
    footer: str
    create_time: datetime | None = None
    update_time: datetime | None = None
    next_run_at: datetime | None = None

    def stored(self) -> dict[str, Any]:
        """The definition as kept in ``reports.definition``."""
        return {
            "title": self.title,
            "source_ids": list(self.source_ids),
            "every_source": self.every_source,
            "sections": [str(s) for s in self.sections],
            "format": self.format,
            "cron": self.cron,
            "time_zone": self.time_zone,
            "benchmark_min_sources": self.benchmark_min_sources,
            "footer": self.footer,
        }


@dataclass(frozen=True)
class ReportRunRow:
    """One report for one period, rendered once and sent until it ends."""

    id: str
    report_id: str
    recipient_id: str
    period_start: datetime
    period_end: datetime
    state: ReportRunState
    attempt_count: int
    next_attempt_time: datetime
    requested_by: str
    file_name: str
    content_type: str
    size: int
    sha256: str
    feedback_count: int
    reason: str
    create_time: datetime
