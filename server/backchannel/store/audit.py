"""The audit trail: one record per change a caller made, written in the transaction of the
change, listed with filters, pruned only past its retention."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from backchannel.ids import new_id
from backchannel.model import AuditEntry, AuditRecord, FieldChange
from backchannel.store.database import DbConnection
from backchannel.store.queries import execute, fetch


@dataclass(frozen=True)
class AuditQuery:
    """Which records a reader wants: every value of a field must match (AND); the time
    bounds must all hold; None for recipient/source ids: the reader's grant narrows
    nothing, else only records about those."""

    actors: Sequence[str] = ()
    actions: Sequence[str] = ()
    targets: Sequence[str] = ()
    after_times: Sequence[datetime] = ()
    from_times: Sequence[datetime] = ()
    before_times: Sequence[datetime] = ()
    until_times: Sequence[datetime] = ()
    recipient_ids: Sequence[str] | None = None
    source_ids: Sequence[str] | None = None


async def record_change(connection: DbConnection, entry: AuditEntry) -> None:
    """Writes ``entry``; call it inside the transaction that makes the change."""
    await execute(
        connection,
        "insert_audit_record",
        id=new_id("aud"),
        actor=entry.actor,
        actor_kind=entry.actor_kind,
        actor_token_id=entry.actor_token_id,
        action=entry.action,
        target=entry.target,
        changes=[change._asdict() for change in entry.changes],
        details=dict(entry.details),
        request_id=entry.request_id,
        trace_id=entry.trace_id,
        recipient_id=entry.recipient_id,
        source_id=entry.source_id,
    )


async def list_audit_records(
    pool: asyncpg.Pool, query: AuditQuery, after_seq: int, limit: int
) -> list[AuditRecord]:
    rows = await fetch(
        pool,
        "list_audit_records",
        after_seq=after_seq,
        actors=list(query.actors),
        actions=list(query.actions),
        targets=list(query.targets),
        after_times=list(query.after_times),
        from_times=list(query.from_times),
        before_times=list(query.before_times),
        until_times=list(query.until_times),
        recipient_ids=None if query.recipient_ids is None else list(query.recipient_ids),
        source_ids=None if query.source_ids is None else list(query.source_ids),
        limit=limit,
    )
    return [_record(row) for row in rows]


async def prune_audit_records(pool: asyncpg.Pool, created_before: datetime) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await execute(connection, "allow_audit_pruning")
        await execute(connection, "prune_audit_records", created_before=created_before)


def _record(row: asyncpg.Record) -> AuditRecord:
    changes = row["changes"]
    details = row["details"]
    if isinstance(changes, str):  # a connection without the jsonb codec
        changes, details = json.loads(changes), json.loads(details)
    return AuditRecord(
        seq=row["seq"],
        id=row["id"],
        create_time=row["create_time"],
        entry=AuditEntry(
            actor=row["actor"],
            actor_kind=row["actor_kind"],
            actor_token_id=row["actor_token_id"],
            action=row["action"],
            target=row["target"],
            changes=tuple(FieldChange(**change) for change in changes),
            details=tuple(sorted(details.items())),
            request_id=row["request_id"],
            trace_id=row["trace_id"],
            recipient_id=row["recipient_id"],
            source_id=row["source_id"],
        ),
    )
