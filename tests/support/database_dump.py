"""The whole test database as ``pg_dump`` writes it: what a backup, or anyone who can read
the database, gets."""

from __future__ import annotations

import asyncio

from support.postgres_cluster import PostgresCluster


async def dump_database(cluster: PostgresCluster, database_url: str) -> str:
    """Every schema object and row of the database at ``database_url``, as SQL text."""
    process = await asyncio.create_subprocess_exec(
        str(cluster.bin / "pg_dump"), "--no-owner", "--dbname", database_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode(errors="replace")
    return out.decode("utf-8", errors="replace")
