"""Subjects' data keys as stored (``subject_keys``), for what checks and re-seals them:
start-up and ``backchannel secrets rotate``."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from backchannel.model import WrappedKey
from backchannel.store.database import DbConnection
from backchannel.store.queries import execute, fetch


async def subject_key_ids(pool: asyncpg.Pool) -> list[str]:
    """Every ring key id some subject's data key is sealed under."""
    return [row["key_id"] for row in await fetch(pool, "select_subject_key_ids")]


async def lock_keys_not_under(
    connection: DbConnection, key_id: str, limit: int
) -> list[tuple[str, WrappedKey]]:
    """Up to ``limit`` (feedback id, wrapped data key) not sealed under ``key_id``, locked
    until the transaction ends."""
    rows = await fetch(connection, "lock_subject_keys_not_under", key_id=key_id, limit=limit)
    return [
        (
            row["feedback_id"],
            WrappedKey(row["key_id"], bytes(row["nonce"]), bytes(row["wrapped_key"])),
        )
        for row in rows
    ]


async def save_keys(connection: DbConnection, keys: Sequence[tuple[str, WrappedKey]]) -> None:
    await execute(
        connection,
        "save_subject_keys",
        feedback_ids=[feedback_id for feedback_id, _ in keys],
        key_ids=[key.key_id for _, key in keys],
        nonces=[key.nonce for _, key in keys],
        wrapped_keys=[key.wrapped for _, key in keys],
    )
