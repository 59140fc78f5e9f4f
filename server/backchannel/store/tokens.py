"""Bearer tokens: created (with their audit record), found by the SHA-256 of their text,
listed, revoked (every server told at commit)."""

from __future__ import annotations

import asyncpg

from backchannel.model import AuditEntry, Grant, NewToken, Scope, TokenRecord
from backchannel.store.audit import record_change
from backchannel.store.queries import execute, fetch, fetchrow


def token_from_row(row: asyncpg.Record) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        name=row["name"],
        grant=Grant(
            scopes=frozenset(Scope(s) for s in row["scopes"] if s in _SCOPE_NAMES),
            source_ids=frozenset(row["source_ids"]),
            recipient_ids=frozenset(row["recipient_ids"]),
        ),
        create_time=row["create_time"],
        expire_time=row["expire_time"],
        last_use_time=row["last_use_time"],
        revoke_time=row["revoke_time"],
        created_by=row["created_by"],
    )


#: A scope a later version wrote and this one does not know grants nothing here.
_SCOPE_NAMES = frozenset(s.value for s in Scope)


async def create_token(pool: asyncpg.Pool, token: NewToken, audit: AuditEntry) -> TokenRecord:
    """Stores ``token`` and its audit record in one transaction."""
    async with pool.acquire() as connection, connection.transaction():
        row = await fetchrow(
            connection,
            "insert_access_token",
            id=token.id,
            name=token.name,
            token_sha256=token.sha256,
            scopes=sorted(token.grant.scopes),
            source_ids=sorted(token.grant.source_ids),
            recipient_ids=sorted(token.grant.recipient_ids),
            expire_time=token.expire_time,
            created_by=token.created_by,
        )
        assert row is not None
        await record_change(connection, audit)
    return token_from_row(row)


async def find_token(pool: asyncpg.Pool, sha256: bytes) -> TokenRecord | None:
    """The token whose text has this SHA-256 (revoked and expired ones too); notes its use."""
    row = await fetchrow(pool, "use_access_token", token_sha256=sha256)
    return None if row is None else token_from_row(row)


async def get_token(pool: asyncpg.Pool, token_id: str) -> TokenRecord | None:
    row = await fetchrow(pool, "select_access_token", token_id=token_id)
    return None if row is None else token_from_row(row)


async def list_tokens(
    pool: asyncpg.Pool, after_id: str, limit: int, include_revoked: bool
) -> list[TokenRecord]:
    rows = await fetch(
        pool, "list_access_tokens", after_id=after_id, limit=limit, include_revoked=include_revoked
    )
    return [token_from_row(row) for row in rows]


async def revoke_token(pool: asyncpg.Pool, token_id: str, audit: AuditEntry) -> TokenRecord | None:
    """Revokes the token and records it, in one transaction; every server drops it from
    its cache when that commits. A token revoked already is returned as it is (no second
    record); None when there is no such token."""
    async with pool.acquire() as connection, connection.transaction():
        row = await fetchrow(connection, "revoke_access_token", token_id=token_id)
        if row is None:
            row = await fetchrow(connection, "select_access_token", token_id=token_id)
            return None if row is None else token_from_row(row)
        await record_change(connection, audit)
        await execute(connection, "notify_token_revoked", token_id=token_id)
    return token_from_row(row)
