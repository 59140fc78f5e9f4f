"""The ``backchannel`` command: runs the server (serve, migrate, plugins, secrets), and gives
an operator the service over gRPC (send, events, feedback, recipients, deliveries)."""

from __future__ import annotations

import os

# serve starts its delivery processes by fork and exec: gRPC's fork handlers have nothing
# to keep across the exec, and only warn ("Other threads are currently calling into
# gRPC, skipping fork() handlers") when a child is (re)started while calls are served.
# Set before gRPC is first imported, which reads it then.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import argparse
import asyncio
import sys
import textwrap
from collections.abc import Callable, Sequence

from backchannel.cli import (
    audit,
    batches,
    db,
    deliveries,
    events,
    exit_codes,
    feedback,
    recipients,
    reports,
    secrets,
    send,
    service,
    tokens,
)
from backchannel.cli.connection import add_client_options, run_with_client
from backchannel.settings import Settings, describe_settings

_SERVER_COMMANDS = ("serve", "deliver", "migrate", "plugins", "db")


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
        "operator commands (send, events, feedback, recipients, deliveries, batches, reports,\n"
        "  tokens, audit) reach a server at --server or BACKCHANNEL_SERVER (default\n"
        "  127.0.0.1:50051), with TLS when --tls, --ca-file/BACKCHANNEL_CA_FILE or\n"
        "  --cert/BACKCHANNEL_CERT_FILE is given, a client certificate (mTLS) from --cert and\n"
        "  --key/BACKCHANNEL_KEY_FILE, and the bearer token in BACKCHANNEL_TOKEN (never sent\n"
        "  in plaintext off this machine without --insecure). `tokens bootstrap` makes the\n"
        "  first admin token on the database.\n\n"
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
    plugins = commands.add_parser(
        "plugins", help="list installed plugins, or make a new one (plugins new NAME)"
    )
    plugins.add_argument("--config", help="TOML settings file")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugin_actions = plugins.add_subparsers(dest="plugins_command", metavar="ACTION")
    plugin_actions.add_parser("list", help="list installed plugins (the default)")
    new = plugin_actions.add_parser(
        "new",
        help="make a plugin distribution backchannel-NAME from the template",
        description=(
            "Writes ./backchannel-NAME (or into --directory): a working transport (or "
            "--formatter) plugin with every name replaced, its entry point, and Backchannel's "
            "conformance suite. Then: cd backchannel-NAME && pip install -e '.[test]' && pytest"
        ),
    )
    new.add_argument("name", help="the transport or format name recipients will use")
    kind = new.add_mutually_exclusive_group()
    kind.add_argument("--transport", dest="kind", action="store_const", const="transport")
    kind.add_argument("--formatter", dest="kind", action="store_const", const="formatter")
    new.set_defaults(kind="transport")
    new.add_argument("--directory", default=".", help="where to write it (default: here)")
    db.add_parser(commands)
    secrets.add_parser(commands)

    common = argparse.ArgumentParser(add_help=False)
    add_client_options(common)
    send.add_parser(commands, common)
    events.add_parser(commands, common)
    feedback.add_parser(commands, common)
    recipients.add_parser(commands, common)
    deliveries.add_parser(commands, common)
    tokens.add_parser(commands, common)
    audit.add_parser(commands, common)
    batches.add_parser(commands, common)
    reports.add_parser(commands, common)
    return parser


def _run_server_command(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the operator commands need no OpenTelemetry SDK.
    from backchannel.logs import configure_logging
    from backchannel.telemetry_environment import TelemetryConfigError

    try:
        return _server_command(args, settings, configure_logging)
    except TelemetryConfigError as error:
        print(f"backchannel: {error}", file=sys.stderr)
        return exit_codes.CONFIG


def _server_command(
    args: argparse.Namespace, settings: Settings, configure_logging: Callable[[str, str, str], None]
) -> int:
    configure_logging(settings.log_level, settings.log_format, settings.otel_endpoint)
    if args.command == "serve":
        return asyncio.run(service.serve(settings, args.config))
    if args.command == "deliver":
        return asyncio.run(service.deliver(settings, args.stop_with_stdin))
    if args.command == "migrate":
        return asyncio.run(service.migrate(settings))
    if args.command == "db":
        return db.run(settings, args)
    return service.plugins(settings, args.json)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line's arguments; an unknown one is reported with the usage of the
    (sub)command it was given to, as for a missing one, not with the top level's."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _chosen_parser(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The innermost subcommand's parser that ``args`` went through."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            if isinstance(chosen, argparse.ArgumentParser):
                return _chosen_parser(chosen, args)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.command == "secrets":
        return secrets.main(args)
    if args.command == "plugins" and args.plugins_command == "new":
        return service.new_plugin(args.name, args.kind, args.directory)
    if args.command in _SERVER_COMMANDS:
        return _run_server_command(args, service.settings(args.config))
    if getattr(args, "server_command", None) is not None:  # tokens bootstrap
        from backchannel.logs import configure_logging

        settings = service.settings(args.config)
        configure_logging("WARNING")
        code: int = args.server_command(settings, args)
        return code
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
