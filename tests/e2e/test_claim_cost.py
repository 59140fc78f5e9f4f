"""A claim's work is that of the deliveries it claims, not of how many are due: with ten
times the backlog, claiming the same number of deliveries touches about as many pages.
Measured in buffers (EXPLAIN ANALYZE), which do not depend on the machine's speed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from support.due_deliveries import add_due_deliveries

from backchannel.store.migrations import apply_migrations
from backchannel.store.queries import query

CLAIMED = 50


@pytest.fixture
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    await apply_migrations(connection)
    for recipient, limited in (("steady", False), ("throttled", True)):
        await connection.execute(
            "INSERT INTO recipients (id, recipient_type, transport, format, state,"
            " max_per_second) VALUES ($1, 'source', 'webhook', 'json', 'active', $2)",
            recipient,
            5.0 if limited else 0.0,
        )
    try:
        yield connection
    finally:
        await connection.close()


async def buffers_of(connection: asyncpg.Connection, name: str, **values: Any) -> int:
    """Pages the named statement touches when run (and rolled back)."""
    statement = query(name)
    transaction = connection.transaction()
    await transaction.start()
    try:
        plan = await connection.fetchval(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement.text}",
            *statement.arguments(values),
        )
    finally:
        await transaction.rollback()
    top = json.loads(plan)[0]["Plan"]
    return int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"])


async def claim_buffers(connection: asyncpg.Connection) -> dict[str, int]:
    return {
        "admission-free claim": await buffers_of(
            connection,
            "claim_admission_free",
            limit=CLAIMED,
            busy_recipients=[],
            retry_limit=CLAIMED,
            lease_seconds=30.0,
        ),
        "admission candidates": await buffers_of(
            connection, "claim_candidates_first", limit=CLAIMED, busy_recipients=[]
        ),
    }


@pytest.mark.parametrize("analyzed", [False, True], ids=["stale-statistics", "fresh-statistics"])
async def test_claiming_from_a_ten_times_larger_backlog_touches_about_as_many_pages(
    connection: asyncpg.Connection, analyzed: bool
) -> None:
    await add_due_deliveries(connection, "steady", 1, 1_000)
    await add_due_deliveries(connection, "throttled", 1, 10)
    if analyzed:
        await connection.execute("ANALYZE")
    small = await claim_buffers(connection)

    await add_due_deliveries(connection, "steady", 1_001, 9_000)
    if analyzed:
        await connection.execute("ANALYZE")
    large = await claim_buffers(connection)

    # Measured: 800 -> 1,170-1,320 pages (index upkeep of the claim's own updates grows
    # with the table); the statements that joined recipients row by row went 1,180 ->
    # 21,500 (admission-free, stale statistics) and 2,090 -> 20,250 (candidates, fresh).
    for statement, pages in large.items():
        assert pages < 3 * small[statement], (statement, small[statement], pages)
