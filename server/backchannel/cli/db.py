"""``backchannel db status|stop|psql``: the database the server uses, seen from the
machine it runs on. With no BACKCHANNEL_DATABASE_URL that is the embedded Postgres in
BACKCHANNEL_DATA_DIR, which ``serve`` starts and stops with itself."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from backchannel.cli import exit_codes
from backchannel.embedded_postgres import psql, status, stop_cluster
from backchannel.settings import Settings


def add_parser(commands: Any) -> None:
    db = commands.add_parser(
        "db",
        help="the embedded Postgres: status, stop, psql",
        description=(
            "With no BACKCHANNEL_DATABASE_URL, serve keeps its data in an embedded Postgres "
            "in BACKCHANNEL_DATA_DIR (default ./backchannel-data), started and stopped with "
            "serve. These commands look at it, stop it, or open psql on it (psql also works "
            "on a configured BACKCHANNEL_DATABASE_URL). Wipe it by stopping it and deleting "
            "the folder."
        ),
    )
    db.add_argument("--config", help="TOML settings file")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    actions.add_parser("status", help="is it running, where, who uses it")
    stop = actions.add_parser("stop", help="stop it (refused while a server uses it)")
    stop.add_argument(
        "--force", action="store_true", help="stop it even though a server is using it"
    )
    psql = actions.add_parser(
        "psql", help="open psql on the database (arguments after -- go to psql)"
    )
    psql.add_argument("psql_arguments", nargs=argparse.REMAINDER)


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.db_command == "psql":
        extra = [a for a in args.psql_arguments if a != "--"]
        url = settings.database_url or status(settings.data_dir).url
        if not url:
            print(
                f"backchannel: the embedded Postgres in {settings.data_dir} is not running "
                "(backchannel serve starts it)",
                file=sys.stderr,
            )
            return exit_codes.FAILURE
        return psql(url, extra)
    if settings.database_url:
        print(
            "backchannel: BACKCHANNEL_DATABASE_URL is set: the server uses that database, "
            "not an embedded one",
            file=sys.stderr,
        )
        return exit_codes.CONFIG
    current = status(settings.data_dir)
    if args.db_command == "status":
        print(f"data folder: {current.data_dir}")
        if not current.running:
            print("state: stopped")
            return exit_codes.OK
        print(f"state: running (postmaster pid {current.pid})")
        print(f"connect: {current.url}")
        users = ", ".join(str(pid) for pid in current.users) or "none (left running)"
        print(f"used by: {users}")
        return exit_codes.OK
    if not current.running:
        print(f"the embedded Postgres in {current.data_dir} is not running")
        return exit_codes.OK
    if current.users and not args.force:
        print(
            f"backchannel: the embedded Postgres is in use by pid "
            f"{', '.join(str(p) for p in current.users)}; stop that server first, or --force",
            file=sys.stderr,
        )
        return exit_codes.CONFLICT
    stop_cluster(settings.data_dir)
    print(f"stopped the embedded Postgres in {current.data_dir}")
    return exit_codes.OK
