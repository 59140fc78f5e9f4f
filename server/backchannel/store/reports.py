"""Report definitions, their scheduled claims, their runs, and the rollup sums they read.
Every change an operator makes is written with its audit entry in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from backchannel.model import (
    AttemptOutcome,
    AuditEntry,
    ReportDefinition,
    ReportRunRow,
    ReportRunState,
    ReportSection,
)
from backchannel.store.audit import record_change
from backchannel.store.batches import record_transmission
from backchannel.store.queries import Database, fetch, fetchrow, fetchval


@dataclass(frozen=True)
class RollupRows:
    """The rollup sums of a period, per source."""

    counts: list[asyncpg.Record]
    scores: list[asyncpg.Record]
    reasons: list[asyncpg.Record]


@dataclass(frozen=True)
class ClaimedReport:
    report: ReportDefinition
    lease_token: str


@dataclass(frozen=True)
class NewReportRun:
    id: str
    report_id: str
    recipient_id: str
    period_start: datetime
    period_end: datetime
    requested_by: str
    file_name: str
    content_type: str
    content: bytes
    sha256: str
    feedback_count: int
    text_alternative: str = ""


@dataclass(frozen=True)
class ClaimedRun:
    run: ReportRunRow
    content: bytes
    text_alternative: str
    lease_token: str


async def rollup_rows(
    database: Database, start: datetime, end: datetime, source_ids: Sequence[str] | None
) -> RollupRows:
    """Sums over [start, end) of ``source_ids``, or of every source (None)."""
    values: dict[str, Any] = {
        "start": start,
        "end": end,
        "every_source": source_ids is None,
        "source_ids": list(source_ids or ()),
    }
    return RollupRows(
        counts=await fetch(database, "report_rollup_counts", **values),
        scores=await fetch(database, "report_rollup_scores", **values),
        reasons=await fetch(database, "report_rollup_reasons", **values),
    )


def report_from_row(row: asyncpg.Record) -> ReportDefinition:
    d = row["definition"]
    return ReportDefinition(
        id=row["id"],
        recipient_id=row["recipient_id"],
        title=d["title"],
        source_ids=tuple(d["source_ids"]),
        every_source=d["every_source"],
        sections=tuple(ReportSection(s) for s in d["sections"]),
        format=d["format"],
        cron=d["cron"],
        time_zone=d["time_zone"],
        benchmark_min_sources=d["benchmark_min_sources"],
        footer=d["footer"],
        create_time=row["create_time"],
        update_time=row["update_time"],
        next_run_at=row["next_run_at"],
    )


def run_from_row(row: asyncpg.Record) -> ReportRunRow:
    return ReportRunRow(
        id=row["id"],
        report_id=row["report_id"],
        recipient_id=row["recipient_id"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        state=ReportRunState(row["state"]),
        attempt_count=row["attempt_count"],
        next_attempt_time=row["next_attempt_time"],
        requested_by=row["requested_by"],
        file_name=row["file_name"],
        content_type=row["content_type"],
        size=row.get("size") or len(row.get("content") or b""),
        sha256=row["sha256"],
        feedback_count=row["feedback_count"],
        reason=row["reason"],
        create_time=row["create_time"],
    )


async def create_report(
    pool: asyncpg.Pool, report: ReportDefinition, next_run_at: datetime, audit: AuditEntry
) -> ReportDefinition:
    async with pool.acquire() as connection, connection.transaction():
        row = await fetchrow(
            connection,
            "insert_report",
            id=report.id,
            recipient_id=report.recipient_id,
            definition=report.stored(),
            next_run_at=next_run_at,
        )
        assert row is not None
        await record_change(connection, audit)
        return report_from_row(row)


async def update_report(
    pool: asyncpg.Pool, report: ReportDefinition, next_run_at: datetime, audit: AuditEntry
) -> ReportDefinition | None:
    async with pool.acquire() as connection, connection.transaction():
        row = await fetchrow(
            connection,
            "update_report",
            id=report.id,
            definition=report.stored(),
            next_run_at=next_run_at,
        )
        if row is None:
            return None
        await record_change(connection, audit)
        return report_from_row(row)


async def delete_report(pool: asyncpg.Pool, report_id: str, audit: AuditEntry) -> bool:
    async with pool.acquire() as connection, connection.transaction():
        if await fetchrow(connection, "delete_report", id=report_id) is None:
            return False
        await record_change(connection, audit)
        return True


async def get_report(database: Database, report_id: str) -> ReportDefinition | None:
    row = await fetchrow(database, "select_report", id=report_id)
    return None if row is None else report_from_row(row)


async def list_reports(
    pool: asyncpg.Pool, recipient_id: str, after_id: str, limit: int
) -> list[ReportDefinition]:
    rows = await fetch(
        pool, "list_reports", recipient_id=recipient_id, after_id=after_id, limit=limit
    )
    return [report_from_row(row) for row in rows]


async def runs_of_report(pool: asyncpg.Pool, report_id: str, limit: int) -> list[ReportRunRow]:
    rows = await fetch(pool, "select_report_runs", report_id=report_id, limit=limit)
    return [run_from_row(row) for row in rows]


async def run_of_period(
    database: Database, report_id: str, period_start: datetime
) -> ReportRunRow | None:
    row = await fetchrow(
        database, "select_report_run", report_id=report_id, period_start=period_start
    )
    return None if row is None else run_from_row(row)


async def _insert_run(connection: Database, run: NewReportRun) -> bool:
    made = await fetchval(
        connection,
        "insert_report_run",
        id=run.id,
        report_id=run.report_id,
        recipient_id=run.recipient_id,
        period_start=run.period_start,
        period_end=run.period_end,
        requested_by=run.requested_by,
        file_name=run.file_name,
        content_type=run.content_type,
        content=run.content,
        text_alternative=run.text_alternative,
        sha256=run.sha256,
        feedback_count=run.feedback_count,
    )
    return made is not None


async def make_run(pool: asyncpg.Pool, run: NewReportRun, audit: AuditEntry) -> bool:
    """Makes an operator's run (with its audit entry); False when the period has one."""
    async with pool.acquire() as connection, connection.transaction():
        if not await _insert_run(connection, run):
            return False
        await record_change(connection, audit)
        await connection.execute("SELECT pg_notify('backchannel_deliveries', '')")
        return True


class LeaseLostError(Exception):
    """Another replica holds the report's schedule now."""


async def claim_due_reports(
    pool: asyncpg.Pool, now: datetime, lease_seconds: float, limit: int
) -> list[ClaimedReport]:
    rows = await fetch(pool, "claim_due_reports", now=now, lease_seconds=lease_seconds, limit=limit)
    return [ClaimedReport(report_from_row(row), row["lease_text"]) for row in rows]


async def make_scheduled_run(
    pool: asyncpg.Pool, claim: ClaimedReport, run: NewReportRun | None, next_run_at: datetime
) -> bool:
    """Makes the scheduled run (when there is one: none when the period already has
    one) and moves the schedule on, in one transaction, by the holder of its lease.
    Whether the run was made; raises LeaseLostError (nothing made) when the lease is
    gone."""
    async with pool.acquire() as connection, connection.transaction():
        moved = await fetchval(
            connection,
            "advance_report_schedule",
            id=claim.report.id,
            lease_token=claim.lease_token,
            next_run_at=next_run_at,
        )
        if moved is None:
            raise LeaseLostError(claim.report.id)
        return run is not None and await _insert_run(connection, run)


async def claim_due_runs(pool: asyncpg.Pool, lease_seconds: float, limit: int) -> list[ClaimedRun]:
    rows = await fetch(pool, "claim_due_report_runs", lease_seconds=lease_seconds, limit=limit)
    return [
        ClaimedRun(
            run_from_row(row), bytes(row["content"]), row["text_alternative"], row["lease_text"]
        )
        for row in rows
    ]


async def record_attempt(
    pool: asyncpg.Pool,
    outcome: AttemptOutcome,
    run_id: str,
    state: ReportRunState,
    reason: str,
    update_health: Any,
) -> bool:
    """Records one attempt of a run: the recipient's health moved on (with its operator
    events), the transmission event, the run moved on by its lease holder. False when the
    lease was lost (the event is still recorded)."""
    async with pool.acquire() as connection, connection.transaction():
        await record_transmission(connection, outcome, update_health)
        moved = await fetchval(
            connection,
            "record_report_attempt",
            id=run_id,
            lease_token=outcome.lease_token,
            state=state,
            next_attempt_time=outcome.next_attempt_time,
            reason=reason,
        )
        return moved is not None
