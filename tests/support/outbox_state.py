"""Reads the outbox straight from Postgres: where each delivery stands and what each
attempt recorded, to judge what a crash or an outage did to it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import asyncpg

from support.waiting import wait_until


@dataclass(frozen=True)
class DeliveryRow:
    id: str
    feedback_id: str
    recipient_id: str
    state: str
    attempt_count: int
    leased: bool


@dataclass(frozen=True)
class AttemptRow:
    delivery_id: str
    attempt: int
    processing_status: str
    worker_id: str


async def _fetch(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def deliveries(database_url: str) -> dict[str, DeliveryRow]:
    rows = await _fetch(
        database_url,
        "SELECT id, feedback_id, recipient_id, state, attempt_count,"
        " lease_token IS NOT NULL AS leased"
        " FROM deliveries",
    )
    return {row["id"]: DeliveryRow(**dict(row)) for row in rows}


async def state_counts(database_url: str) -> Counter[str]:
    """delivery state -> how many deliveries are in it."""
    rows = await _fetch(database_url, "SELECT state, count(*) AS n FROM deliveries GROUP BY 1")
    return Counter({row["state"]: row["n"] for row in rows})


async def count_in_state(database_url: str, state: str) -> int:
    return (await state_counts(database_url))[state]


async def wait_for_succeeded(database_url: str, count: int, timeout: float) -> bool:
    """Waits until at least ``count`` deliveries succeeded (True), or ``timeout`` seconds
    passed (False)."""

    async def enough() -> bool:
        return await count_in_state(database_url, "succeeded") >= count

    return await wait_until(enough, timeout, interval=0.1)


async def stored_request_ids(database_url: str) -> Counter[str]:
    """request_id -> how many feedback rows carry it."""
    rows = await _fetch(database_url, "SELECT request_id FROM feedback")
    return Counter(row["request_id"] for row in rows)


async def attempts(database_url: str) -> list[AttemptRow]:
    """Every recorded transmission attempt (feedback-sent event)."""
    rows = await _fetch(
        database_url,
        "SELECT delivery_id, attempt, processing_status, worker_id FROM feedback_events"
        " WHERE category = 'transmission' ORDER BY xid, seq",
    )
    return [AttemptRow(**dict(row)) for row in rows]
