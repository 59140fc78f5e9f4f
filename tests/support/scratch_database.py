"""A database of its own for one scenario, created on a running cluster and dropped
after it (with every connection still open to it)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg

from support.postgres_cluster import PostgresCluster


@contextlib.asynccontextmanager
async def scratch_database(cluster: PostgresCluster, prefix: str = "faults") -> AsyncIterator[str]:
    """Yields the URL of a new, empty database on ``cluster``."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _admin(cluster, f'CREATE DATABASE "{name}"')
    try:
        yield cluster.url(name)
    finally:
        await _admin(cluster, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(cluster: PostgresCluster, statement: str) -> None:
    connection = await asyncpg.connect(cluster.url())
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
