"""The server's own commands: serve, migrate, plugins."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys

from backchannel.cli import exit_codes
from backchannel.settings import Settings, SettingsError, load_settings

#: Environment variables of the operator commands (they talk to a server; the server does
#: not read them), left out when the server reads its BACKCHANNEL_* settings.
CLIENT_ENVIRONMENT = frozenset({"BACKCHANNEL_SERVER", "BACKCHANNEL_TOKEN", "BACKCHANNEL_CA_FILE"})


def settings(config: str | None) -> Settings:
    environ = {k: v for k, v in os.environ.items() if k not in CLIENT_ENVIRONMENT}
    try:
        return load_settings(environ, config_file=config)
    except SettingsError as error:
        print(f"backchannel: {error}", file=sys.stderr)
        raise SystemExit(exit_codes.CONFIG) from error


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The embedded Postgres library narrates every command it runs at INFO.
    logging.getLogger("pgserver").setLevel(
        max(logging.WARNING, logging.getLevelName(level.upper()))
    )


async def serve(settings: Settings) -> int:
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
        return exit_codes.CONFIG
    print(f"Backchannel listening on {settings.listen_host_port[0]}:{server.port}", flush=True)
    waiting = asyncio.create_task(server.wait())
    await asyncio.wait([waiting, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED")
    logging.getLogger("backchannel").info("shutting down")
    await server.stop()
    return exit_codes.OK


async def migrate(settings: Settings) -> int:
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
    return exit_codes.OK


def plugins(settings: Settings, as_json: bool) -> int:
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
        return exit_codes.CONFIG
    if as_json:
        print(json.dumps(plugins_as_json(loaded), indent=2))
    else:
        print(describe_plugins(loaded))
    return exit_codes.FAILURE if loaded.failed else exit_codes.OK
