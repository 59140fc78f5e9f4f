"""The outbox: claiming due deliveries under a lease (respecting each recipient's circuit
breaker, rate and concurrency limits, and ordering), and recording each attempt."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from backchannel.store.database import DbConnection
from backchannel.store.event_rows import write_events
from backchannel.store.queries import sql
from backchannel.store.recipients import recipient_from_row
from backchannel.store.records import (
    AttemptOutcome,
    ClaimedDelivery,
    EventRecord,
    OpenDeliveryCounts,
    RecipientHealthRecord,
    RecipientRecord,
)

#: How long a delivery held back by a half-open circuit or a concurrency limit waits
#: before it is looked at again.
_RECHECK = timedelta(milliseconds=250)


@dataclass(frozen=True)
class Admission:
    admitted: list[str]
    postponed: list[tuple[str, datetime]]


@dataclass(frozen=True)
class ClaimBatch:
    deliveries: list[ClaimedDelivery]
    #: Candidates were held back (limits, circuit); the earliest is due again in this many
    #: seconds. None when none were.
    recheck_after: float | None


async def claim_due_deliveries(
    pool: asyncpg.Pool,
    limit: int,
    lease_seconds: float,
    retry_limit: int,
    recipients: RecipientRevisions,
    busy_recipients: Sequence[str] = (),
) -> ClaimBatch:
    """Claims up to ``limit`` due deliveries, at most ``retry_limit`` of them retries,
    none for ``busy_recipients``. Deliveries whose recipient needs no admission step are
    claimed in one statement; the others (limits, circuit) only when such recipients
    exist, in a transaction that admits them."""
    busy = list(busy_recipients)
    rows = await pool.fetch(
        sql("claim_admission_free"), limit, busy, max(0, retry_limit), lease_seconds
    )
    claimed = await _claimed(
        pool, [row for row in rows if row["delivery_id"] is not None], recipients
    )
    if not rows[0]["needs_admission"] or len(claimed) >= limit:
        return ClaimBatch(claimed, None)
    retries = sum(1 for d in claimed if d.attempt > 1)
    admitted = await _claim_with_admission(
        pool, limit - len(claimed), lease_seconds, retry_limit - retries, recipients, busy
    )
    return ClaimBatch(claimed + admitted.deliveries, admitted.recheck_after)


async def _claim_with_admission(
    pool: asyncpg.Pool,
    limit: int,
    lease_seconds: float,
    retry_limit: int,
    recipients: RecipientRevisions,
    busy: list[str],
) -> ClaimBatch:
    async with pool.acquire() as connection:
        async with connection.transaction():
            now: datetime = await connection.fetchval(sql("begin_claim"))
            candidates = list(await connection.fetch(sql("claim_candidates_first"), limit, busy))
            room_for_retries = min(limit - len(candidates), retry_limit)
            if room_for_retries > 0:
                candidates += await connection.fetch(
                    sql("claim_candidates_retry"), room_for_retries, busy
                )
            if not candidates:
                return ClaimBatch([], None)
            admission = await _admit(connection, candidates, now, lease_seconds)
            recheck_after = None
            if admission.postponed:
                await connection.execute(
                    sql("postpone_deliveries"),
                    [i for i, _ in admission.postponed],
                    [t for _, t in admission.postponed],
                )
                earliest = min(t for _, t in admission.postponed)
                recheck_after = max(0.0, (earliest - now).total_seconds())
            if not admission.admitted:
                return ClaimBatch([], recheck_after)
            rows = await connection.fetch(sql("mark_claimed"), admission.admitted, lease_seconds)
        return ClaimBatch(await _claimed(connection, rows, recipients), recheck_after)


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
        for row in await database.fetch(sql("select_recipients_any_state"), ids):
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
        )
        for row in rows
    ]


async def _admit(
    connection: DbConnection,
    candidates: Sequence[asyncpg.Record],
    now: datetime,
    lease_seconds: float,
) -> Admission:
    by_recipient: dict[str, list[asyncpg.Record]] = {}
    for row in candidates:
        by_recipient.setdefault(row["recipient_id"], []).append(row)
    admitted: list[str] = []
    postponed: list[tuple[str, datetime]] = []
    for recipient_id, rows in by_recipient.items():
        ids = [r["id"] for r in rows]
        first = rows[0]
        circuit, open_until = first["circuit_state"], first["open_until"]
        if circuit in ("open", "half_open") and open_until is not None and open_until > now:
            wait_until = open_until if circuit == "open" else now + _RECHECK
            postponed += [(i, wait_until) for i in ids]
            continue
        if circuit in ("open", "half_open"):
            # The cool-down is over: one probe goes; the rest wait for its outcome.
            won = await connection.fetchval(
                sql("start_circuit_probe"), recipient_id, now + timedelta(seconds=lease_seconds)
            )
            postponed += [(i, now + _RECHECK) for i in (ids[1:] if won else ids)]
            if won:
                admitted.append(ids[0])
            continue
        if first["max_per_second"] > 0 or first["max_concurrency"] > 0:
            room, wait = await _limited_room(connection, first, len(ids), now)
            admitted += ids[:room]
            postponed += [(i, now + wait) for i in ids[room:]]
            continue
        admitted += ids
    return Admission(admitted, postponed)


async def _limited_room(
    connection: DbConnection, recipient: asyncpg.Record, wanted: int, now: datetime
) -> tuple[int, timedelta]:
    """How many of ``wanted`` deliveries a limited recipient takes now, and how long the
    rest wait. The health row is locked, so replicas take turns."""
    rate, burst_setting = recipient["max_per_second"], recipient["burst"]
    burst = burst_setting or max(1, math.ceil(rate))
    recipient_id = recipient["recipient_id"]
    health = await connection.fetchrow(
        sql("ensure_and_lock_recipients_health"), [recipient_id], float(burst)
    )
    assert health is not None
    room, wait = wanted, _RECHECK
    if recipient["max_concurrency"] > 0:
        in_flight = await connection.fetchval(sql("count_in_flight_of_recipient"), recipient_id)
        room = max(0, min(room, recipient["max_concurrency"] - in_flight))
    if rate > 0:
        elapsed = max(0.0, (now - health["tokens_time"]).total_seconds())
        tokens = min(float(burst), health["tokens"] + elapsed * rate)
        if math.floor(tokens) < room:
            room = math.floor(tokens)
            wait = timedelta(seconds=max(0.01, (1.0 - (tokens - room)) / rate))
        await connection.execute(sql("save_tokens"), recipient_id, tokens - room, now)
    return room, wait


async def release_expired_leases(pool: asyncpg.Pool) -> int:
    return len(await pool.fetch(sql("release_expired_leases")))


async def renew_leases(
    pool: asyncpg.Pool, lease_tokens: Sequence[str], lease_seconds: float
) -> None:
    await pool.execute(sql("renew_leases"), list(lease_tokens), lease_seconds)


async def release_claims(
    pool: asyncpg.Pool, lease_tokens: Sequence[str], due_in_seconds: float = 0.0
) -> None:
    await pool.execute(sql("release_claims"), list(lease_tokens), due_in_seconds)


async def count_open_deliveries(pool: asyncpg.Pool) -> OpenDeliveryCounts:
    row = await pool.fetchrow(sql("count_open_deliveries"))
    assert row is not None
    return OpenDeliveryCounts(*row)


def _health_from_row(row: asyncpg.Record) -> RecipientHealthRecord:
    values = dict(row)
    values.pop("transaction_time", None)
    return RecipientHealthRecord(**values)


HealthUpdater = Callable[
    [RecipientHealthRecord, Sequence[AttemptOutcome], datetime],
    tuple[RecipientHealthRecord, list[EventRecord], str | None],
]


async def record_attempts(
    pool: asyncpg.Pool, outcomes: Sequence[AttemptOutcome], update_health: HealthUpdater
) -> None:
    """Records every attempt as a feedback-sent event and moves its delivery on, updates
    each recipient's health (with the operator events that produces), in one
    transaction of three round trips (lock and read the health rows, write, commit) but
    when a recipient is disabled. An attempt whose lease was lost is still recorded as an
    event (it did happen) but no longer changes the delivery."""
    async with pool.acquire() as connection, connection.transaction():
        events = [o.event for o in outcomes]
        by_recipient: dict[str, list[AttemptOutcome]] = {}
        for outcome in outcomes:
            by_recipient.setdefault(outcome.event.recipient_id, []).append(outcome)
        rows = await connection.fetch(
            sql("ensure_and_lock_recipients_health"), sorted(by_recipient), 0.0
        )
        now: datetime = rows[0]["transaction_time"]
        updated: list[RecipientHealthRecord] = []
        for row in sorted(rows, key=lambda r: r["recipient_id"]):
            recipient_id = row["recipient_id"]
            health, extra_events, disable_reason = update_health(
                _health_from_row(row), by_recipient[recipient_id], now
            )
            updated.append(health)
            disabled = disable_reason is not None and await _disable(
                connection, recipient_id, disable_reason
            )
            events += [e for e in extra_events if disabled or e.category != "recipient_disabled"]
        await write_events(connection, events, updated, outcomes)


async def _disable(connection: DbConnection, recipient_id: str, reason: str) -> bool:
    """Disables the recipient and holds its pending deliveries; False if it already was."""
    if not await connection.fetchval(sql("disable_recipient"), recipient_id, reason):
        return False
    await connection.execute(sql("hold_deliveries_of_recipient"), recipient_id)
    await connection.execute(sql("notify_recipient_changed"), recipient_id)
    return True


async def health_of_recipients(
    pool: asyncpg.Pool, recipient_ids: Sequence[str]
) -> dict[str, RecipientHealthRecord]:
    rows = await pool.fetch(sql("select_recipient_health"), list(recipient_ids))
    return {row["recipient_id"]: _health_from_row(row) for row in rows}
