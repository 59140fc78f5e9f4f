"""The outbox: claiming due deliveries under a lease and recording each attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from backchannel.store.queries import sql
from backchannel.store.recipients import recipient_from_row
from backchannel.store.records import AttemptOutcome, ClaimedDelivery


async def claim_due_deliveries(
    pool: asyncpg.Pool, limit: int, lease_seconds: float
) -> list[ClaimedDelivery]:
    rows = await pool.fetch(sql("claim_due_deliveries"), limit, lease_seconds)
    return [
        ClaimedDelivery(
            delivery_id=row["delivery_id"],
            feedback_id=row["feedback_id"],
            attempt=row["attempt_count"],
            lease_token=row["lease_token"],
            record=bytes(row["record"]),
            traceparent=row["traceparent"],
            accept_time=row["accept_time"],
            recipient=recipient_from_row(row),
        )
        for row in rows
    ]


async def release_expired_leases(pool: asyncpg.Pool) -> int:
    return len(await pool.fetch(sql("release_expired_leases")))


async def next_due_time(pool: asyncpg.Pool) -> datetime | None:
    value: datetime | None = await pool.fetchval(sql("next_due_time"))
    return value


async def record_attempts(pool: asyncpg.Pool, outcomes: Sequence[AttemptOutcome]) -> None:
    """Records every attempt as a feedback-sent event and moves its delivery on, in one
    transaction. An attempt whose lease was lost is still recorded as an event (it did
    happen) but no longer changes the delivery."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.executemany(
            sql("insert_event"),
            [
                (
                    e.id,
                    e.feedback_id,
                    e.delivery_id,
                    e.attempt,
                    e.recipient_id,
                    e.recipient_type,
                    e.transport,
                    e.format_name,
                    e.content_type,
                    e.aggregation_level,
                    e.processing_status,
                    e.response_code,
                    e.response_excerpt,
                    e.remote_id,
                    e.start_time,
                    e.end_time,
                    e.latency_us,
                    e.content_size,
                    e.content_sha256,
                    e.trace_id,
                    e.span_id,
                    e.plugin_distribution,
                    e.plugin_version,
                    e.server_version,
                    e.worker_id,
                    e.next_attempt_time,
                    e.lead_id,
                    e.source_id,
                )
                for e in (o.event for o in outcomes)
            ],
        )
        await connection.execute(
            sql("finish_attempts"),
            [o.event.delivery_id for o in outcomes],
            [o.lease_token for o in outcomes],
            [o.new_state for o in outcomes],
            [o.next_attempt_time for o in outcomes],
        )
        await connection.execute(sql("notify_events_recorded"))
