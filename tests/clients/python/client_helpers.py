"""Shared by the Python client's tests: the brief's example, recipients, servers that stop
and start again on one port, and rows read straight from Postgres."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
from conftest import RunningServer, start_server
from conftest import test_settings as settings_for_test

#: A default wait for anything asynchronous to settle in these tests.
SETTLE_SECONDS = 30.0


def webhook_recipient(recipient_id: str, url: str, secret: str) -> dict[str, Any]:
    return {
        "id": recipient_id,
        "recipientType": "RECIPIENT_TYPE_SOURCE",
        "transport": "webhook",
        "format": "json",
        "transportSettings": {"url": url},
        "secretSettings": {"signing_secrets": secret},
    }


async def start_on(database_url: str, port: int = 0) -> RunningServer:
    """A Backchannel server on ``port`` (0: any free one) over ``database_url``."""
    return await start_server(settings_for_test(database_url, listen=f"127.0.0.1:{port}"))


async def stop(running: RunningServer) -> None:
    await running.channel.close()
    await running.server.stop()


@contextlib.asynccontextmanager
async def server_on(database_url: str, port: int = 0) -> AsyncIterator[RunningServer]:
    running = await start_on(database_url, port)
    try:
        yield running
    finally:
        await stop(running)


async def stored_feedback(database_url: str) -> list[tuple[str, str]]:
    """(id, request_id) of every stored feedback, read from Postgres."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT id, request_id FROM feedback ORDER BY id")
    finally:
        await connection.close()
    return [(row["id"], row["request_id"]) for row in rows]


async def sent_event_ids(database_url: str) -> list[str]:
    """The ids of every feedback-sent event, in log order, read from Postgres."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT id FROM feedback_events WHERE category = 'transmission' ORDER BY xid, seq"
        )
    finally:
        await connection.close()
    return [row["id"] for row in rows]


async def wait_until(check: Callable[[], bool], timeout: float = SETTLE_SECONDS) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if check():
                return
            await asyncio.sleep(0.02)


async def wait_for_event_count(database_url: str, count: int) -> list[str]:
    """The ids of the feedback-sent events, once there are at least ``count``."""
    async with asyncio.timeout(SETTLE_SECONDS):
        while True:
            ids = await sent_event_ids(database_url)
            if len(ids) >= count:
                return ids
            await asyncio.sleep(0.05)
