"""The batch spool: Postgres large objects, shared by every replica, written and read in
chunks (``lo_put``/``lo_get``: no descriptor and no transaction held between chunks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg

from backchannel.store.queries import execute, fetchval

READ_BYTES = 1024 * 1024


async def create(pool: asyncpg.Pool) -> int:
    oid: int = await fetchval(pool, "spool_create")
    return oid


async def append(pool: asyncpg.Pool, oid: int, offset: int, data: bytes) -> None:
    await execute(pool, "spool_write", oid=oid, offset=offset, data=data)


async def read(
    pool: asyncpg.Pool, oid: int, size: int, *, exact: bool = True
) -> AsyncIterator[bytes]:
    """The object's first ``size`` bytes (``exact``: it must have that many; else at most
    that many), a chunk at a time."""
    offset = 0
    while offset < size:
        length = min(READ_BYTES, size - offset)
        chunk: bytes = await fetchval(pool, "spool_read", oid=oid, offset=offset, length=length)
        if not chunk:
            if not exact:
                return
            raise OSError(f"spool object {oid} ends at {offset} bytes, not {size}")
        offset += len(chunk)
        yield chunk


async def delete(pool: asyncpg.Pool, oid: int | None) -> None:
    if oid is not None:
        await execute(pool, "spool_delete", oid=oid)
