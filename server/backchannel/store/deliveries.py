"""The outbox: claiming due deliveries under a lease, and recording each attempt.

Which deliveries a recipient's circuit breaker and limits let through is decided by
``backchannel.delivery.admission`` from what the claim transaction here reads; this module
only reads and writes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from backchannel.model import (
    AttemptOutcome,
    CircuitState,
    ClaimedDelivery,
    DeliveryLimits,
    EventRecord,
    OpenDeliveryCounts,
    RecipientHealthRecord,
    RecipientRecord,
    SealedSubject,
    TokenBucket,
)
from backchannel.store.database import DbConnection
from backchannel.store.event_rows import write_events
from backchannel.store.queries import execute, fetch, fetchrow, fetchval
from backchannel.store.recipients import recipient_from_row


@dataclass(frozen=True)
class AdmissionFreeClaim:
    deliveries: list[ClaimedDelivery]
    #: Whether any recipient needs the admission step (limits, or a circuit not closed).
    needs_admission: bool


async def claim_admission_free(
    pool: asyncpg.Pool,
    limit: int,
    lease_seconds: float,
    retry_limit: int,
    recipients: RecipientRevisions,
    busy_recipients: Sequence[str],
) -> AdmissionFreeClaim:
    """Claims, in one statement, up to ``limit`` due deliveries (at most ``retry_limit``
    of them retries, none for ``busy_recipients``) of recipients that need no admission
    step."""
    rows = await fetch(
        pool,
        "claim_admission_free",
        limit=limit,
        busy_recipients=list(busy_recipients),
        retry_limit=max(0, retry_limit),
        lease_seconds=lease_seconds,
    )
    claimed = await _claimed(
        pool, [row for row in rows if row["delivery_id"] is not None], recipients
    )
    return AdmissionFreeClaim(claimed, bool(rows[0]["needs_admission"]))


@dataclass(frozen=True)
class Candidate:
    """A due delivery of a recipient that needs admission, locked by the claim."""

    delivery_id: str
    recipient_id: str
    is_retry: bool
    circuit_state: CircuitState | None
    open_until: datetime | None
    #: How many times the circuit opened since it was last closed.
    open_count: int
    limits: DeliveryLimits


class AdmissionClaim:
    """One claim transaction for the deliveries that need admission: it locks candidates,
    applies what admission decided (probes, token buckets, postponements), and marks the
    admitted ones claimed. Open it with :func:`admission_claim`."""

    def __init__(self, connection: DbConnection, now: datetime) -> None:
        self._connection = connection
        #: The transaction's time: every decision of the claim is made as of it.
        self.now = now

    async def candidates(
        self, limit: int, retry_limit: int, busy_recipients: Sequence[str]
    ) -> list[Candidate]:
        """Up to ``limit`` due deliveries, first attempts before retries (at most
        ``retry_limit`` of those), each lane in due order."""
        busy = list(busy_recipients)
        rows = await fetch(
            self._connection, "claim_candidates_first", limit=limit, busy_recipients=busy
        )
        room_for_retries = min(limit - len(rows), retry_limit)
        if room_for_retries > 0:
            rows += await fetch(
                self._connection,
                "claim_candidates_retry",
                limit=room_for_retries,
                busy_recipients=busy,
            )
        return [
            Candidate(
                delivery_id=row["id"],
                recipient_id=row["recipient_id"],
                is_retry=row["attempt_count"] > 0,
                circuit_state=(
                    None if row["circuit_state"] is None else CircuitState(row["circuit_state"])
                ),
                open_until=row["open_until"],
                open_count=row["open_count"] or 0,
                limits=DeliveryLimits(row["max_per_second"], row["burst"], row["max_concurrency"]),
            )
            for row in rows
        ]

    async def start_circuit_probe(self, recipient_id: str, probe_lease_until: datetime) -> bool:
        """Makes the recipient's circuit half-open with a probe out until the given time;
        False when another claim won the probe first."""
        won = await fetchval(
            self._connection,
            "start_circuit_probe",
            recipient_id=recipient_id,
            probe_lease_until=probe_lease_until,
        )
        return won is not None

    async def probe_delivery(self, recipient_id: str, prefer_retry: bool) -> str | None:
        """The due delivery the recipient's probe sends (see select_circuit_probe), locked
        for this claim; None when none is due."""
        found: str | None = await fetchval(
            self._connection,
            "select_circuit_probe",
            recipient_id=recipient_id,
            prefer_retry=prefer_retry,
        )
        return found

    async def lock_token_bucket(self, recipient_id: str, bucket_size: int) -> TokenBucket:
        """The recipient's token bucket (full when it has none yet), locked: replicas take
        turns on it until this claim commits."""
        health = await fetchrow(
            self._connection,
            "ensure_and_lock_recipients_health",
            recipient_ids=[recipient_id],
            initial_tokens=float(bucket_size),
        )
        assert health is not None
        return TokenBucket(health["tokens"], health["tokens_time"])

    async def count_in_flight(self, recipient_id: str) -> int:
        count: int = await fetchval(
            self._connection, "count_in_flight_of_recipient", recipient_id=recipient_id
        )
        return count

    async def save_token_bucket(self, recipient_id: str, bucket: TokenBucket) -> None:
        await execute(
            self._connection,
            "save_tokens",
            recipient_id=recipient_id,
            tokens=bucket.tokens,
            tokens_time=bucket.time,
        )

    async def postpone(self, postponed: Sequence[tuple[str, datetime]]) -> None:
        """Makes these deliveries due later, without using an attempt."""
        await execute(
            self._connection,
            "postpone_deliveries",
            delivery_ids=[i for i, _ in postponed],
            due_times=[t for _, t in postponed],
        )

    async def mark_claimed(
        self, delivery_ids: Sequence[str], lease_seconds: float, recipients: RecipientRevisions
    ) -> list[ClaimedDelivery]:
        rows = await fetch(
            self._connection,
            "mark_claimed",
            delivery_ids=list(delivery_ids),
            lease_seconds=lease_seconds,
        )
        return await _claimed(self._connection, rows, recipients)


@asynccontextmanager
async def admission_claim(pool: asyncpg.Pool) -> AsyncIterator[AdmissionClaim]:
    """A claim transaction; it commits when the block ends without an error."""
    async with pool.acquire() as connection, connection.transaction():
        now: datetime = await fetchval(connection, "begin_claim")
        yield AdmissionClaim(connection, now)


class RecipientRevisions:
    """Recipients as claimed, by (id, revision): every change bumps the revision, so in one
    database one revision is one content. A claim names each delivery's recipient by id and
    revision, and a revision is read from the database once, when first claimed for.
    Deliveries to one revision share one record, and so the same format options mapping,
    which the built-in formatters key what they read on. One per dispatcher (ids and
    revisions are only unique within a database)."""

    _KEPT = 4096

    def __init__(self) -> None:
        self._records: dict[tuple[str, int], RecipientRecord] = {}

    async def of_rows(
        self, database: asyncpg.Pool | DbConnection, rows: Sequence[asyncpg.Record]
    ) -> dict[tuple[str, int], RecipientRecord]:
        """The recipient of each claimed row, by (id, revision); the revisions not read
        before are read now (a recipient changed again meanwhile comes as it is now)."""
        wanted = {(row["recipient_id"], row["recipient_revision"]) for row in rows}
        found = {key: self._records[key] for key in wanted if key in self._records}
        missing = wanted - found.keys()
        if not missing:
            return found
        if len(self._records) + len(missing) > self._KEPT:
            self._records.clear()
        newest: dict[str, RecipientRecord] = {}
        ids = sorted({recipient_id for recipient_id, _ in missing})
        for row in await fetch(database, "select_recipients_any_state", recipient_ids=ids):
            record = recipient_from_row(row)
            self._records[(record.id, record.revision)] = newest[record.id] = record
        for key in missing:
            found[key] = self._records.get(key) or newest[key[0]]
        return found


async def _claimed(
    database: asyncpg.Pool | DbConnection,
    rows: Sequence[asyncpg.Record],
    recipients: RecipientRevisions,
) -> list[ClaimedDelivery]:
    records = await recipients.of_rows(database, rows) if rows else {}
    return [
        ClaimedDelivery(
            delivery_id=row["delivery_id"],
            feedback_id=row["feedback_id"],
            attempt=row["attempt_count"],
            lease_token=row["lease_token"],
            record=bytes(row["record"]),
            traceparent=row["traceparent"],
            accept_time=row["accept_time"],
            recipient=records[(row["recipient_id"], row["recipient_revision"])],
            requested_by=row["requested_by"],
            policy_attempt_offset=row["policy_attempt_offset"],
            policy_start_time=row["policy_start_time"],
            origin_trace_id=row["origin_trace_id"],
            tracestate=row["tracestate"],
            subject=sealed_subject_of(row),
        )
        for row in rows
    ]


def sealed_subject_of(row: asyncpg.Record) -> SealedSubject | None:
    """The sealed subject a row carries (its ``subject_*`` columns); None when the feedback
    has none, or its data key was destroyed."""
    if row["subject_ciphertext"] is None or row["subject_wrapped_key"] is None:
        return None
    return SealedSubject(
        nonce=bytes(row["subject_nonce"]),
        ciphertext=bytes(row["subject_ciphertext"]),
        key_id=row["subject_key_id"],
        key_nonce=bytes(row["subject_key_nonce"]),
        wrapped_key=bytes(row["subject_wrapped_key"]),
    )


async def release_expired_leases(pool: asyncpg.Pool) -> int:
    return len(await fetch(pool, "release_expired_leases"))


async def renew_leases(
    pool: asyncpg.Pool, lease_tokens: Sequence[str], lease_seconds: float
) -> None:
    await execute(
        pool, "renew_leases", lease_tokens=list(lease_tokens), lease_seconds=lease_seconds
    )


async def release_claims(
    pool: asyncpg.Pool, lease_tokens: Sequence[str], due_in_seconds: float = 0.0
) -> None:
    await execute(
        pool, "release_claims", lease_tokens=list(lease_tokens), due_in_seconds=due_in_seconds
    )


async def count_open_deliveries(pool: asyncpg.Pool) -> OpenDeliveryCounts:
    row = await fetchrow(pool, "count_open_deliveries")
    assert row is not None
    return OpenDeliveryCounts(*row)


async def circuit_states(pool: asyncpg.Pool) -> dict[str, CircuitState]:
    """The circuit state of every live recipient, by id."""
    rows = await fetch(pool, "select_circuit_states")
    return {row["recipient_id"]: CircuitState(row["circuit_state"]) for row in rows}


def _health_from_row(row: asyncpg.Record) -> RecipientHealthRecord:
    values = dict(row)
    values.pop("transaction_time", None)
    return RecipientHealthRecord(circuit_state=CircuitState(values.pop("circuit_state")), **values)


class AttemptRecording:
    """One transaction that records a batch of attempts: lock the recipients' health rows,
    disable recipients if it comes to that, then write the events, the health and the
    deliveries' new states together. Open it with :func:`attempt_recording`."""

    def __init__(self, connection: DbConnection) -> None:
        self._connection = connection

    async def lock_health(
        self, recipient_ids: Sequence[str]
    ) -> tuple[datetime, dict[str, RecipientHealthRecord]]:
        """The transaction's time, and the health of each recipient (created when it has
        none), locked in id order so two recorders never deadlock."""
        rows = await fetch(
            self._connection,
            "ensure_and_lock_recipients_health",
            recipient_ids=sorted(set(recipient_ids)),
            initial_tokens=0.0,
        )
        now: datetime = rows[0]["transaction_time"]
        return now, {row["recipient_id"]: _health_from_row(row) for row in rows}

    async def disable_recipient(self, recipient_id: str, reason: str) -> bool:
        """Disables the recipient and holds its pending deliveries; False if it already
        was disabled (or was deleted)."""
        disabled = await fetchval(
            self._connection, "disable_recipient", recipient_id=recipient_id, reason=reason
        )
        if not disabled:
            return False
        await execute(self._connection, "hold_deliveries_of_recipient", recipient_id=recipient_id)
        await execute(self._connection, "notify_recipient_changed", recipient_id=recipient_id)
        return True

    async def write(
        self,
        events: Sequence[EventRecord],
        health: Sequence[RecipientHealthRecord],
        outcomes: Sequence[AttemptOutcome],
    ) -> None:
        """Writes the events and health, and moves each attempted delivery on (only by the
        holder of its lease: an attempt whose lease was lost is still an event, but no
        longer changes its delivery)."""
        await write_events(self._connection, events, health, outcomes)


@asynccontextmanager
async def attempt_recording(pool: asyncpg.Pool) -> AsyncIterator[AttemptRecording]:
    """A recording transaction; it commits when the block ends without an error."""
    async with pool.acquire() as connection, connection.transaction():
        yield AttemptRecording(connection)


async def health_of_recipients(
    pool: asyncpg.Pool, recipient_ids: Sequence[str]
) -> dict[str, RecipientHealthRecord]:
    rows = await fetch(pool, "select_recipient_health", recipient_ids=list(recipient_ids))
    return {row["recipient_id"]: _health_from_row(row) for row in rows}
