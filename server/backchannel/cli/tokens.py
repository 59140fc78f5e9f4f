"""``backchannel tokens``: create, list and revoke bearer tokens over gRPC, and
``bootstrap`` the first admin token on the database directly (nobody can call the API
before one exists)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
import sys
from datetime import datetime, timedelta
from typing import Any

from backchannel_client import Client
from backchannel_client.v1 import token_service_pb2

from backchannel.cli import exit_codes
from backchannel.cli.connection import CommandError
from backchannel.cli.durations import parse_duration
from backchannel.cli.output import as_json, parse_time, print_json, print_json_line, when
from backchannel.model import Scope


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    tokens = commands.add_parser("tokens", help="create, list and revoke bearer tokens")
    actions = tokens.add_subparsers(dest="token_action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        parents=[common],
        help="create a token and print its text, once",
        description="Scopes: " + ", ".join(s.value for s in Scope) + ".",
    )
    create.add_argument("--name", required=True, help="what it is for, e.g. crm-sync")
    create.add_argument(
        "--scope", action="append", required=True, metavar="SCOPE", help="a scope (repeat)"
    )
    create.add_argument(
        "--source", action="append", default=[], metavar="ID", help="only this source (repeat)"
    )
    create.add_argument(
        "--recipient",
        action="append",
        default=[],
        metavar="ID",
        help="only this recipient (repeat)",
    )
    create.add_argument(
        "--expires", metavar="WHEN", help="a duration (30d, 12h, 90m, 2w) or an RFC 3339 time"
    )
    create.set_defaults(client_command=run_create)

    listing = actions.add_parser("list", parents=[common], help="list tokens (never their text)")
    listing.add_argument("--all", action="store_true", help="revoked ones too")
    listing.set_defaults(client_command=run_list)

    revoke = actions.add_parser("revoke", parents=[common], help="revoke a token")
    revoke.add_argument("token_id", metavar="ID")
    revoke.set_defaults(client_command=run_revoke)

    bootstrap = actions.add_parser(
        "bootstrap",
        help="make the first admin token (every scope) on the database directly and print "
        "it once; run it where the server's settings are",
    )
    bootstrap.add_argument("--name", default="admin", help="its name (default %(default)s)")
    bootstrap.add_argument("--config", help="TOML settings file")
    bootstrap.add_argument("--json", action="store_true", help="machine-readable output")
    bootstrap.set_defaults(server_command=run_bootstrap)


def parse_expiry(text: str) -> datetime | timedelta:
    life = parse_duration(text)
    if life is not None:
        if life <= timedelta(0):
            raise CommandError("--expires must be a positive duration", exit_codes.USAGE)
        return life
    if text.strip()[:1].isdigit() and len(text.strip()) <= 6:
        raise CommandError(
            f"--expires {text!r} is neither a duration (30d, 12h, 90m, 2w) nor a time",
            exit_codes.USAGE,
        )
    return parse_time(text, "--expires")


def run_create(client: Client, args: argparse.Namespace) -> int:
    expires = parse_expiry(args.expires) if args.expires else None
    answer = client.create_token(
        args.name,
        args.scope,
        source_ids=args.source,
        recipient_ids=args.recipient,
        expires=expires,
    )
    if args.json:
        print_json({"token": as_json(answer.token), "secret": answer.secret})
        return exit_codes.OK
    print(answer.secret)
    print(
        f"created token {answer.token.id} ({answer.token.name}); its text above is shown "
        "only now: keep it in a secret store",
        file=sys.stderr,
    )
    return exit_codes.OK


def run_list(client: Client, args: argparse.Namespace) -> int:
    for token in client.list_tokens(show_revoked=args.all):
        if args.json:
            print_json_line(as_json(token))
        else:
            print(_line(token))
    return exit_codes.OK


def run_revoke(client: Client, args: argparse.Namespace) -> int:
    token = client.revoke_token(args.token_id)
    if args.json:
        print_json(as_json(token))
    else:
        print(f"revoked {_line(token)}")
    return exit_codes.OK


def _line(token: token_service_pb2.AccessToken) -> str:
    narrowed = [
        f"sources {','.join(token.source_ids)}" if token.source_ids else "",
        f"recipients {','.join(token.recipient_ids)}" if token.recipient_ids else "",
    ]
    state = "revoked" if token.revoked else f"expires {when(token.expire_time)}"
    return "  ".join(
        part
        for part in (
            token.id,
            token.name,
            " ".join(token.scopes),
            *narrowed,
            state,
            f"last used {when(token.last_use_time)}",
        )
        if part
    )


def _operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "operator"
    return f"{user}@{socket.gethostname()}"


def run_bootstrap(settings: Any, args: argparse.Namespace) -> int:
    text, token_id = asyncio.run(_bootstrap(settings, args.name))
    if args.json:
        print_json({"id": token_id, "name": args.name, "secret": text})
    else:
        print(text)
        print(
            f"created token {token_id} ({args.name}) with every scope; its text above is "
            "shown only now. Use it as BACKCHANNEL_TOKEN, make narrower tokens with "
            "`backchannel tokens create`, and revoke this one when it is not needed.",
            file=sys.stderr,
        )
    return exit_codes.OK


async def _bootstrap(settings: Any, name: str) -> tuple[str, str]:
    from backchannel.embedded_postgres import EmbeddedPostgres
    from backchannel.local_tokens import bootstrap_token
    from backchannel.store.database import create_pool
    from backchannel.store.migrations import apply_migrations

    embedded = None
    dsn = settings.database_url
    if not dsn:
        embedded = EmbeddedPostgres(settings.data_dir)
        dsn = await asyncio.to_thread(embedded.start)
    try:
        pool = await create_pool(dsn, 1)
        try:
            async with pool.acquire() as connection:
                await apply_migrations(connection)
            text, token = await bootstrap_token(pool, name, _operator())
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
    return text, token.id
