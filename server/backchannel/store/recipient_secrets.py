"""Recipients' secrets as stored, for what checks, seals and re-seals them (start-up,
``backchannel secrets rotate``): which keys they are sealed under, and one recipient's
secrets locked and saved again, in its own short transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from backchannel.model import SealedSecret
from backchannel.store.database import DbConnection
from backchannel.store.queries import execute, fetch, fetchrow
from backchannel.store.recipients import sealed_secrets_from_json, sealed_secrets_json


@dataclass(frozen=True)
class StoredSecrets:
    recipient_id: str
    deleted: bool
    sealed: dict[str, SealedSecret]
    #: Secrets an earlier version stored in plain text, not sealed yet.
    plaintext: dict[str, Any]


async def key_ids_in_use(pool: asyncpg.Pool) -> dict[str, int]:
    """Each key id stored secrets are sealed under, and how many values it seals."""
    return {row["key_id"]: row["secrets"] for row in await fetch(pool, "select_secret_key_ids")}


async def sealed_secrets_page(
    pool: asyncpg.Pool, after_id: str, limit: int
) -> list[tuple[str, dict[str, SealedSecret]]]:
    rows = await fetch(pool, "select_sealed_secrets_page", after_id=after_id, limit=limit)
    return [(row["id"], sealed_secrets_from_json(row["sealed_secrets"])) for row in rows]


async def recipients_with_plaintext_secrets(
    pool: asyncpg.Pool, after_id: str, limit: int
) -> list[str]:
    rows = await fetch(
        pool, "select_recipients_with_plaintext_secrets", after_id=after_id, limit=limit
    )
    return [row["id"] for row in rows]


async def recipients_not_sealed_under(
    pool: asyncpg.Pool, key_id: str, after_id: str, limit: int
) -> list[str]:
    rows = await fetch(
        pool, "select_recipients_not_sealed_under", key_id=key_id, after_id=after_id, limit=limit
    )
    return [row["id"] for row in rows]


async def lock_recipient_secrets(
    connection: DbConnection, recipient_id: str
) -> StoredSecrets | None:
    row = await fetchrow(
        connection, "select_recipient_secrets_for_update", recipient_id=recipient_id
    )
    if row is None:
        return None
    return StoredSecrets(
        recipient_id=row["id"],
        deleted=row["deleted"],
        sealed=sealed_secrets_from_json(row["sealed_secrets"]),
        plaintext=dict(row["plaintext_secret_settings"]),
    )


async def save_recipient_secrets(
    connection: DbConnection, recipient_id: str, sealed: dict[str, SealedSecret]
) -> None:
    await execute(
        connection,
        "save_recipient_secrets",
        recipient_id=recipient_id,
        sealed_secrets=sealed_secrets_json(sealed),
    )
