"""Reads the feedback-sent events straight from Postgres, in the order the log defines:
by writing transaction, then sequence (see migrations/0001_initial.sql). The log also
holds operator events; feedback-sent events are its 'transmission' rows."""

from __future__ import annotations

import asyncio

import asyncpg

_SENT_EVENT_IDS = "SELECT id FROM feedback_events WHERE category = 'transmission' ORDER BY xid, seq"


async def sent_event_ids(database_url: str) -> list[str]:
    """The id of every committed feedback-sent event, in log order."""
    connection = await asyncpg.connect(database_url)
    try:
        return [row["id"] for row in await connection.fetch(_SENT_EVENT_IDS)]
    finally:
        await connection.close()


async def wait_for_event_count(database_url: str, count: int, timeout: float = 60.0) -> list[str]:
    """Waits until at least ``count`` feedback-sent events are committed; their ids, in
    log order."""
    connection = await asyncpg.connect(database_url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                ids = [row["id"] for row in await connection.fetch(_SENT_EVENT_IDS)]
                if len(ids) >= count:
                    return ids
                await asyncio.sleep(0.05)
    finally:
        await connection.close()
