"""The ``backchannel`` command: runs the server (serve, migrate, plugins), and gives an
operator the service over gRPC (send, events, feedback, recipients, deliveries)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import textwrap
from collections.abc import Sequence

from backchannel.cli import (
    batches,
    deliveries,
    events,
    exit_codes,
    feedback,
    recipients,
    send,
    service,
)
from backchannel.cli.connection import add_client_options, run_with_client
from backchannel.settings import describe_settings

_SERVER_COMMANDS = ("serve", "deliver", "migrate", "plugins")


def _epilog() -> str:
    settings = "\n".join(
        f"  {name} (default {default})\n"
        + textwrap.fill(doc, width=88, initial_indent=" " * 6, subsequent_indent=" " * 6)
        for name, default, doc in describe_settings()
    )
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in exit_codes.DESCRIPTIONS)
    return (
        "server settings (environment variables):\n"
        f"{settings}\n\n"
        "operator commands (send, events, feedback, recipients, deliveries, batches) reach a\n"
        "  server at --server or BACKCHANNEL_SERVER (default 127.0.0.1:50051), with TLS when\n"
        "  --tls or --ca-file/BACKCHANNEL_CA_FILE is given, and the bearer token in\n"
        "  BACKCHANNEL_TOKEN.\n\n"
        f"exit codes:\n{codes}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backchannel",
        description="Outbound lead-feedback delivery service.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the gRPC server and the delivery engine")
    serve.add_argument("--config", help="TOML settings file")
    deliver = commands.add_parser(
        "deliver",
        help="run only the delivery engine, on BACKCHANNEL_DATABASE_URL (serve starts these "
        "with BACKCHANNEL_DELIVERY_PROCESSES)",
    )
    deliver.add_argument("--config", help="TOML settings file")
    deliver.add_argument(
        "--stop-with-stdin",
        action="store_true",
        help="stop when stdin closes (how serve's delivery processes follow serve)",
    )
    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    migrate.add_argument("--config", help="TOML settings file")
    plugins = commands.add_parser("plugins", help="list installed plugins")
    plugins.add_argument("--config", help="TOML settings file")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")

    common = argparse.ArgumentParser(add_help=False)
    add_client_options(common)
    send.add_parser(commands, common)
    events.add_parser(commands, common)
    feedback.add_parser(commands, common)
    recipients.add_parser(commands, common)
    deliveries.add_parser(commands, common)
    batches.add_parser(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in _SERVER_COMMANDS:
        settings = service.settings(args.config)
        service.configure_logging(settings.log_level)
        if args.command == "serve":
            return asyncio.run(service.serve(settings, args.config))
        if args.command == "deliver":
            return asyncio.run(service.deliver(settings, args.stop_with_stdin))
        if args.command == "migrate":
            return asyncio.run(service.migrate(settings))
        return service.plugins(settings, args.json)
    try:
        code = run_with_client(args, args.client_command)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (e.g. `backchannel events | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exit_codes.OK
    return code


if __name__ == "__main__":
    raise SystemExit(main())
