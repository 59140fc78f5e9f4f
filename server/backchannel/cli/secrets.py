"""``backchannel secrets``: seal every stored secret again under the newest key while the
servers go on serving (``rotate``), and make a new key (``new-key``).

Rotating, step by step: put a new key first in BACKCHANNEL_SECRET_KEYS (or the key file)
of every server and restart them, so each opens old and new; run ``backchannel secrets
rotate`` with the same keys; then remove the old key and restart again."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from backchannel.cli import exit_codes, service
from backchannel.settings import Settings


def add_parser(commands: Any) -> None:
    secrets = commands.add_parser(
        "secrets", help="the keys that seal recipients' secrets: rotate them, make a new one"
    )
    actions = secrets.add_subparsers(dest="secrets_command", required=True, metavar="ACTION")
    rotate = actions.add_parser(
        "rotate",
        help="seal every stored secret again under the newest key (while servers serve), "
        "so older keys can be retired",
    )
    rotate.add_argument("--config", help="TOML settings file")
    new_key = actions.add_parser(
        "new-key", help="print a new random key as an id:base64-key entry for the key ring"
    )
    new_key.add_argument("key_id", metavar="ID", help="the new key's id, e.g. 2025-06")


def main(args: argparse.Namespace) -> int:
    if args.secrets_command == "new-key":
        return _new_key(args.key_id)
    from backchannel.logs import configure_logging

    settings = service.settings(args.config)
    configure_logging(settings.log_level, settings.log_format)
    return asyncio.run(_rotate(settings))


def _new_key(key_id: str) -> int:
    from backchannel.sealing.key_ring import KeyRingError, new_key_entry

    try:
        print(new_key_entry(key_id))
    except KeyRingError as error:
        print(f"backchannel: {error}", file=sys.stderr)
        return exit_codes.USAGE
    return exit_codes.OK


async def _rotate(settings: Settings) -> int:
    from backchannel.embedded_postgres import EmbeddedPostgres
    from backchannel.sealing.key_file import configured_key_ring
    from backchannel.sealing.key_ring import KeyRingError
    from backchannel.sealing.rotation import rotate_secrets
    from backchannel.sealing.subject_rotation import rotate_subject_keys
    from backchannel.store.database import create_pool
    from backchannel.store.migrations import apply_migrations
    from backchannel.store.recipient_secrets import key_ids_in_use
    from backchannel.store.subject_keys import subject_key_ids

    embedded = None
    dsn = settings.database_url
    if not dsn:
        embedded = EmbeddedPostgres(settings.data_dir)
        dsn = await asyncio.to_thread(embedded.start)
    pool = await create_pool(dsn, 2)
    try:
        try:
            ring = configured_key_ring(settings, None if embedded is None else embedded.data_dir)
        except KeyRingError as error:
            print(f"backchannel: secret keys: {error}", file=sys.stderr)
            return exit_codes.CONFIG
        if ring.newest is None:
            print(
                "backchannel: secret keys: none is configured (set BACKCHANNEL_SECRET_KEYS "
                "or BACKCHANNEL_SECRET_KEY_FILE)",
                file=sys.stderr,
            )
            return exit_codes.CONFIG
        async with pool.acquire() as connection:
            await apply_migrations(connection)
        report = await rotate_secrets(pool, ring)
        subjects = await rotate_subject_keys(pool, ring)
        in_use = {*await key_ids_in_use(pool), *await subject_key_ids(pool)}
    finally:
        await pool.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
    newest = ring.newest.id
    print(f"sealed the secrets of {report.sealed} recipients again under key {newest!r}")
    print(f"sealed the data keys of {subjects.resealed} feedback subjects again too")
    if report.removed:
        print(f"removed the secrets left on {report.removed} deleted recipients")
    failures = [*report.failures, *subjects.failures]
    for failure in failures:
        print(f"backchannel: not sealed again: {failure}", file=sys.stderr)
    retired = [key_id for key_id in ring.ids[1:] if key_id not in in_use]
    if retired and not failures:
        print(f"no stored secret needs key {', '.join(repr(k) for k in retired)} any more")
    return exit_codes.FAILURE if failures else exit_codes.OK
