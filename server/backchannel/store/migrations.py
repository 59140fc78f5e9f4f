"""Applies the numbered ``migrations/NNNN_name.sql`` files, once each, in order."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib.resources import files

from backchannel.store.database import DbConnection
from backchannel.store.queries import execute, fetch

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant shared by every Backchannel replica; serialises concurrent start-ups.
_MIGRATION_LOCK_KEY = 0x6263_6D69  # "bcmi"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str


def bundled_migrations() -> list[Migration]:
    found = []
    for entry in files(__package__).joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


async def apply_migrations(connection: DbConnection) -> list[Migration]:
    """Applies what is missing; returns what it applied. Safe to run from many replicas."""
    applied_now = []
    await execute(connection, "create_schema_migrations")
    await execute(connection, "lock_migrations", lock_key=_MIGRATION_LOCK_KEY)
    try:
        done = {row["version"] for row in await fetch(connection, "applied_migrations")}
        for migration in bundled_migrations():
            if migration.version in done:
                continue
            async with connection.transaction():
                await connection.execute(migration.text)
                await execute(
                    connection,
                    "record_migration",
                    version=migration.version,
                    name=migration.name,
                )
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied_now.append(migration)
    finally:
        await execute(connection, "unlock_migrations", lock_key=_MIGRATION_LOCK_KEY)
    return applied_now
