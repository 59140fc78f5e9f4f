"""The ``backchannel`` command: serve, migrate, plugins."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence

from backchannel.settings import Settings, SettingsError, describe_settings, load_settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 3


def _settings(config: str | None) -> Settings:
    try:
        return load_settings(config_file=config)
    except SettingsError as error:
        print(f"backchannel: {error}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from error


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The embedded Postgres library narrates every command it runs at INFO.
    logging.getLogger("pgserver").setLevel(
        max(logging.WARNING, logging.getLevelName(level.upper()))
    )


async def _serve(settings: Settings) -> int:
    from backchannel.app import BackchannelServer
    from backchannel.plugin_host import PluginConflictError

    server = BackchannelServer(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
    except PluginConflictError as error:
        print(f"backchannel: plugin conflict: {error}", file=sys.stderr)
        await server.stop()
        return EXIT_CONFIG
    print(f"Backchannel listening on {settings.listen_host_port[0]}:{server.port}", flush=True)
    waiting = asyncio.create_task(server.wait())
    await asyncio.wait([waiting, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED")
    logging.getLogger("backchannel").info("shutting down")
    await server.stop()
    return EXIT_OK


async def _migrate(settings: Settings) -> int:
    from backchannel.embedded_postgres import EmbeddedPostgres
    from backchannel.store.database import create_pool
    from backchannel.store.migrations import apply_migrations

    embedded = None
    dsn = settings.database_url
    if not dsn:
        embedded = EmbeddedPostgres(settings.data_dir)
        dsn = embedded.start()
    pool = await create_pool(dsn, 1)
    try:
        async with pool.acquire() as connection:
            applied = await apply_migrations(connection)
    finally:
        await pool.close()
        if embedded is not None:
            embedded.stop()
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    if not applied:
        print("database is up to date")
    return EXIT_OK


def _plugins(settings: Settings, as_json: bool) -> int:
    from backchannel.plugin_host import (
        PluginConflictError,
        describe_plugins,
        load_plugins,
        plugins_as_json,
    )

    try:
        loaded = load_plugins(frozenset(settings.disabled_plugins))
    except PluginConflictError as error:
        print(f"backchannel: plugin conflict: {error}", file=sys.stderr)
        return EXIT_CONFIG
    if as_json:
        print(json.dumps(plugins_as_json(loaded), indent=2))
    else:
        print(describe_plugins(loaded))
    return EXIT_FAILURE if loaded.failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    settings_help = "\n".join(
        f"  {name} (default {default})" for name, default in describe_settings()
    )
    parser = argparse.ArgumentParser(
        prog="backchannel",
        description="Outbound lead-feedback delivery service.",
        epilog="settings (environment variables):\n" + settings_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC server and the delivery engine")
    serve.add_argument("--config", help="TOML settings file")
    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    migrate.add_argument("--config", help="TOML settings file")
    plugins = commands.add_parser("plugins", help="list installed plugins")
    plugins.add_argument("--config", help="TOML settings file")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    settings = _settings(args.config)
    _logging(settings.log_level)
    if args.command == "serve":
        return asyncio.run(_serve(settings))
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    return _plugins(settings, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
