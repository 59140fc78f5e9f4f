"""Batches: schedules claimed under a lease, membership decided in one transaction, the
built file recorded, due batches claimed for an attempt, attempts recorded, members ended
with their batch in chunks. Every statement is in ``sql/``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from backchannel.model import (
    AttemptOutcome,
    AuditEntry,
    BatchRow,
    BatchState,
    ClaimedBatch,
    EventRecord,
    RecipientHealthRecord,
)
from backchannel.store.audit import record_change
from backchannel.store.database import DbConnection
from backchannel.store.deliveries import AttemptRecording, RecipientRevisions
from backchannel.store.event_rows import write_events
from backchannel.store.queries import execute, fetch, fetchrow, fetchval

#: Members taken per statement (one transaction takes them all).
MEMBER_CHUNK = 50_000


class LeaseLostError(Exception):
    """Another worker holds the schedule or batch now; what was being done is undone."""


@dataclass(frozen=True)
class ScheduleClaim:
    recipient_id: str
    #: The occurrence being run.
    due_at: datetime
    last_period_end: datetime | None
    lease_token: str


@dataclass(frozen=True)
class TakenBatch:
    batch_id: str
    sequence: int
    lease_token: str
    member_count: int


@dataclass(frozen=True)
class BuildClaim:
    batch_id: str
    lease_token: str
    spool_oid: int | None
    manifest_oid: int | None


def batch_from_row(row: asyncpg.Record) -> BatchRow:
    return BatchRow(
        id=row["id"],
        recipient_id=row["recipient_id"],
        sequence=row["sequence"],
        state=BatchState(row["state"]),
        period_start=row["period_start"],
        period_end=row["period_end"],
        run_time=row["run_time"],
        attempt_count=row["attempt_count"],
        next_attempt_time=row["next_attempt_time"],
        file_name=row["file_name"],
        content_type=row["content_type"],
        size=row["size"],
        sha256=row["sha256"],
        row_count=row["row_count"],
        excluded_count=row["excluded_count"],
        excluded=tuple((e["feedback_id"], e["reason"]) for e in row["excluded"]),
        reason=row["reason"],
        compression=row["compression"],
        encryption=row["encryption"],
        format_name=row["format_name"],
        create_time=row["create_time"],
        update_time=row["update_time"],
    )


async def claim_due_schedules(
    pool: asyncpg.Pool, now: datetime, lease_seconds: float, limit: int
) -> list[ScheduleClaim]:
    rows = await fetch(
        pool, "claim_due_batch_schedules", now=now, lease_seconds=lease_seconds, limit=limit
    )
    return [
        ScheduleClaim(r["recipient_id"], r["next_run_at"], r["last_period_end"], r["lease_token"])
        for r in rows
    ]


async def recipients_over_max_rows(pool: asyncpg.Pool) -> list[str]:
    return [row["id"] for row in await fetch(pool, "recipients_over_max_rows")]


async def take_members(
    pool: asyncpg.Pool,
    *,
    batch_id: str,
    recipient_id: str,
    period_start: datetime | None,
    period_end: datetime,
    run_time: datetime,
    max_rows: int | None,
    create_empty: bool,
    requested_by: str,
    lease_seconds: float,
    schedule: tuple[ScheduleClaim, datetime] | None = None,
    audit: AuditEntry | None = None,
) -> TakenBatch | None:
    """In ONE transaction: the batch's members taken and the batch created (or nothing,
    when nothing waits and no empty file is wanted), a scheduled run's schedule moved
    to its next occurrence (``schedule``: the claim and that occurrence), and an
    operator's run recorded in the audit trail (``audit``, completed with the batch id)."""
    async with pool.acquire() as connection, connection.transaction():
        await execute(connection, "lock_batch_recipient", recipient_id=recipient_id)
        row = await fetchrow(
            connection,
            "create_batch",
            batch_id=batch_id,
            recipient_id=recipient_id,
            period_start=period_start,
            period_end=period_end,
            run_time=run_time,
            create_empty=create_empty,
            requested_by=requested_by,
            lease_seconds=lease_seconds,
        )
        taken = 0
        while row is not None and (max_rows is None or taken < max_rows):
            chunk = MEMBER_CHUNK if max_rows is None else min(MEMBER_CHUNK, max_rows - taken)
            status = await execute(
                connection,
                "take_batch_members",
                recipient_id=recipient_id,
                period_end=period_end,
                limit=chunk,
                batch_id=batch_id,
            )
            count = int(status.split()[-1])
            taken += count
            if count < chunk:
                break
        if schedule is not None:
            claim, next_run = schedule
            advanced = await fetchval(
                connection,
                "advance_batch_schedule",
                recipient_id=recipient_id,
                next_run_at=next_run,
                period_end=period_end,
                lease_token=claim.lease_token,
            )
            if advanced is None:
                raise LeaseLostError(recipient_id)
        if audit is not None:
            details = (("batch_id", row["id"]),) if row is not None else (("batch_id", ""),)
            await record_change(connection, audit._replace(details=audit.details + details))
        if row is None:
            return None
        return TakenBatch(row["id"], row["sequence"], row["lease_token"], taken)


async def claim_batch_to_build(pool: asyncpg.Pool, lease_seconds: float) -> BuildClaim | None:
    row = await fetchrow(pool, "claim_batch_to_build", lease_seconds=lease_seconds)
    if row is None:
        return None
    return BuildClaim(row["id"], row["lease_token"], row["spool_oid"], row["manifest_oid"])


async def get_batch(pool: asyncpg.Pool, batch_id: str) -> BatchRow | None:
    row = await fetchrow(pool, "select_batch", batch_id=batch_id)
    return None if row is None else batch_from_row(row)


async def batches_by_ids(pool: asyncpg.Pool, batch_ids: Sequence[str]) -> dict[str, BatchRow]:
    rows = await fetch(pool, "select_batches_by_ids", batch_ids=list(batch_ids))
    return {row["id"]: batch_from_row(row) for row in rows}


async def list_batches(
    pool: asyncpg.Pool, recipient_id: str, before_sequence: int, limit: int
) -> list[BatchRow]:
    rows = await fetch(
        pool,
        "list_batches",
        recipient_id=recipient_id,
        before_sequence=before_sequence,
        limit=limit,
    )
    return [batch_from_row(row) for row in rows]


async def batch_items(pool: asyncpg.Pool, batch_id: str, limit: int) -> list[asyncpg.Record]:
    return await fetch(pool, "select_batch_items", batch_id=batch_id, limit=limit)


async def set_spool(pool: asyncpg.Pool, batch_id: str, lease_token: str, oid: int) -> None:
    if (
        await fetchval(
            pool, "set_batch_spool", batch_id=batch_id, lease_token=lease_token, spool_oid=oid
        )
        is None
    ):
        raise LeaseLostError(batch_id)


async def members_page(
    database: asyncpg.Pool | DbConnection,
    batch_id: str,
    after: tuple[datetime, str],
    limit: int,
) -> list[asyncpg.Record]:
    return await fetch(
        database,
        "select_batch_members_page",
        batch_id=batch_id,
        after_time=after[0],
        after_id=after[1],
        limit=limit,
    )


async def awaiting_page(pool: asyncpg.Pool, recipient_id: str, limit: int) -> list[asyncpg.Record]:
    return await fetch(pool, "select_awaiting_batch_page", recipient_id=recipient_id, limit=limit)


async def count_awaiting(pool: asyncpg.Pool, recipient_id: str) -> int:
    count: int = await fetchval(pool, "count_awaiting_batch", recipient_id=recipient_id)
    return count


async def finish_build(
    pool: asyncpg.Pool,
    *,
    batch_id: str,
    lease_token: str,
    facts: dict[str, Any],
    excluded_ids: Sequence[str],
    events: Sequence[EventRecord],
    suppressed_ids: Sequence[str] = (),
) -> None:
    """Records the built file (``facts``: the columns finish_batch_build sets), ends the
    members left out as failed (``suppressed_ids``: as suppressed, for want of consent),
    and writes their events and any operator event, together."""
    async with pool.acquire() as connection, connection.transaction():
        done = await fetchval(
            connection, "finish_batch_build", batch_id=batch_id, lease_token=lease_token, **facts
        )
        if done is None:
            raise LeaseLostError(batch_id)
        if excluded_ids:
            await execute(connection, "fail_excluded_members", delivery_ids=list(excluded_ids))
        if suppressed_ids:
            await execute(
                connection, "suppress_excluded_members", delivery_ids=list(suppressed_ids)
            )
        if events:
            await write_events(connection, events)


async def renew_leases(pool: asyncpg.Pool, lease_tokens: Sequence[str], seconds: float) -> None:
    if lease_tokens:
        await execute(
            pool, "renew_batch_leases", lease_tokens=list(lease_tokens), lease_seconds=seconds
        )


async def claim_due_batches(
    pool: asyncpg.Pool, lease_seconds: float, limit: int, recipients: RecipientRevisions
) -> list[ClaimedBatch]:
    rows = await fetch(pool, "claim_due_batches", lease_seconds=lease_seconds, limit=limit)
    if not rows:
        return []
    records = await recipients.of_rows(pool, rows)
    return [
        ClaimedBatch(
            batch=batch_from_row(row),
            lease_token=row["lease_text"],
            spool_oid=row["spool_oid"],
            manifest_oid=row["manifest_oid"],
            manifest_name=row["manifest_name"],
            done_name=row["done_name"],
            recipient=records[(row["recipient_id"], row["recipient_revision"])],
            requested_by=row["requested_by"],
            policy_attempt_offset=row["policy_attempt_offset"],
            policy_start_time=row["policy_start_time"],
        )
        for row in rows
    ]


async def record_transmission(
    connection: DbConnection, outcome: AttemptOutcome, update_health: Any
) -> None:
    """Within the caller's transaction: the recipient's health moved on by one file or
    report transmission (with its operator events), and the transmission's event."""
    recording = AttemptRecording(connection)
    recipient_id = outcome.event.recipient_id
    now, healths = await recording.lock_health([recipient_id])
    health: RecipientHealthRecord
    health, extra, disable_reason = update_health(healths[recipient_id], [outcome], now)
    disabled = disable_reason is not None and await recording.disable_recipient(
        recipient_id, disable_reason
    )
    events = [outcome.event] + [
        e for e in extra if disabled or e.category.value != "recipient_disabled"
    ]
    await recording.write(events, [health], [])


async def record_attempt(
    pool: asyncpg.Pool,
    outcome: AttemptOutcome,
    batch_state: BatchState,
    reason: str,
    update_health: Any,
) -> bool:
    """Records one batch attempt: the recipient's health moved on (with its operator
    events), the transmission event, the batch moved on by its lease holder. False when
    the lease was lost (the event is still recorded)."""
    async with pool.acquire() as connection, connection.transaction():
        await record_transmission(connection, outcome, update_health)
        moved = await fetchval(
            connection,
            "record_batch_attempt",
            batch_id=outcome.event.batch_id,
            lease_token=outcome.lease_token,
            state=batch_state,
            next_attempt_time=outcome.next_attempt_time,
            reason=reason,
        )
        return moved is not None


async def unsettled_batches(pool: asyncpg.Pool, limit: int) -> list[asyncpg.Record]:
    return await fetch(pool, "select_unsettled_batches", limit=limit)


async def settle_chunk(
    pool: asyncpg.Pool,
    batch_id: str,
    state: str,
    attempt_count: int,
    limit: int,
    make_events: Any,
) -> int:
    """Ends up to ``limit`` members with ``state`` and writes ``make_events(rows)`` in the
    same transaction; how many were ended."""
    async with pool.acquire() as connection, connection.transaction():
        rows = await fetch(
            connection,
            "settle_batch_members",
            batch_id=batch_id,
            state=state,
            attempt_count=attempt_count,
            limit=limit,
        )
        if rows:
            await write_events(connection, make_events(rows))
        return len(rows)


async def mark_settled(
    pool: asyncpg.Pool, batch_id: str, state: str, attempt_count: int
) -> tuple[int | None, int | None, str] | None:
    """None when the batch moved on meanwhile (retried): that round is settled later."""
    row = await fetchrow(
        pool, "mark_batch_settled", batch_id=batch_id, state=state, attempt_count=attempt_count
    )
    return None if row is None else (row["spool_oid"], row["manifest_oid"], row["state"])


async def forget_spool(pool: asyncpg.Pool, batch_id: str) -> None:
    await execute(pool, "release_spool_of_batch", batch_id=batch_id)


async def spools_past_retention(
    pool: asyncpg.Pool, before: datetime
) -> list[tuple[str, tuple[int, ...]]]:
    rows = await fetch(pool, "select_spools_past_retention", before=before)
    return [
        (row["id"], tuple(o for o in (row["spool_oid"], row["manifest_oid"]) if o is not None))
        for row in rows
    ]


async def release_expired_leases(pool: asyncpg.Pool) -> int:
    return len(await fetch(pool, "release_expired_batch_leases"))


class BatchRefusedError(Exception):
    """The batch cannot be retried; the message says why."""


async def retry_batch(
    pool: asyncpg.Pool, batch_id: str, requested_by: str, audit: AuditEntry | None = None
) -> BatchRow | None:
    """None when there is no such batch. ``audit``: recorded in the same transaction."""
    async with pool.acquire() as connection, connection.transaction():
        current = await fetchrow(connection, "select_batch_for_update", batch_id=batch_id)
        if current is None:
            return None
        if current["state"] not in ("failed", "dead", "held"):
            raise BatchRefusedError(
                f"batch {batch_id} is {current['state']}; only failed, dead or held batches "
                "can be retried"
            )
        if current["spool_oid"] is None:
            raise BatchRefusedError(f"the file of batch {batch_id} is no longer kept")
        await fetchval(connection, "retry_batch", batch_id=batch_id, requested_by=requested_by)
        if audit is not None:
            await record_change(connection, audit)
        row = await fetchrow(connection, "select_batch", batch_id=batch_id)
        assert row is not None
        return batch_from_row(row)


async def batch_attempt_events(pool: asyncpg.Pool, batch_id: str) -> list[asyncpg.Record]:
    return await fetch(pool, "select_batch_attempts", batch_id=batch_id)
