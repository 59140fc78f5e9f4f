"""Reads the test database directly, to see what a call did or did not store."""

from __future__ import annotations

import asyncpg

TABLES = ("feedback", "deliveries", "feedback_events", "recipients")


async def count_rows(database_url: str, *tables: str) -> dict[str, int]:
    """How many rows each table holds."""
    connection = await asyncpg.connect(database_url)
    try:
        counts: dict[str, int] = {}
        for table in tables:
            assert table in TABLES, table
            counts[table] = await connection.fetchval(f"SELECT count(*) FROM {table}")
        return counts
    finally:
        await connection.close()


async def delivery_states(database_url: str, feedback_id: str) -> dict[str, str]:
    """recipient id -> stored delivery state, for one feedback."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT recipient_id, state FROM deliveries WHERE feedback_id = $1", feedback_id
        )
        return {row["recipient_id"]: row["state"] for row in rows}
    finally:
        await connection.close()


async def stored_feedback(database_url: str) -> list[tuple[str, str]]:
    """(id, request_id) of every stored feedback, by id."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT id, request_id FROM feedback ORDER BY id")
    finally:
        await connection.close()
    return [(row["id"], row["request_id"]) for row in rows]


async def table_fingerprints(connection: asyncpg.Connection) -> dict[str, tuple[int, str]]:
    """Every table of the schema (found in the catalog, so a new table is included) with
    its row count and a digest of its rows: any insert, update or delete changes it."""
    tables = await connection.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
    )
    fingerprints: dict[str, tuple[int, str]] = {}
    for row in tables:
        name = row["tablename"]
        count, digest = await connection.fetchrow(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))"
            f' FROM "{name}" t'
        )
        fingerprints[name] = (count, digest)
    return fingerprints


async def recipient_row(database_url: str, recipient_id: str) -> str:
    """The whole row of ``recipient_id``, every column, as JSON text."""
    connection = await asyncpg.connect(database_url)
    try:
        text: str = await connection.fetchval(
            "SELECT to_jsonb(r)::text FROM recipients r WHERE id = $1", recipient_id
        )
    finally:
        await connection.close()
    return text
