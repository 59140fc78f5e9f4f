"""The server's own commands: serve, deliver, migrate, plugins."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys

from backchannel.cli import exit_codes
from backchannel.settings import Settings, SettingsError, load_settings

#: Environment variables of the operator commands (they talk to a server; the server does
#: not read them), left out when the server reads its BACKCHANNEL_* settings.
CLIENT_ENVIRONMENT = frozenset(
    {
        "BACKCHANNEL_SERVER",
        "BACKCHANNEL_TOKEN",
        "BACKCHANNEL_CA_FILE",
        "BACKCHANNEL_CERT_FILE",
        "BACKCHANNEL_KEY_FILE",
    }
)


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


async def serve(settings: Settings, config_file: str | None = None) -> int:
    from backchannel.api.listener_tls import TlsSetupError
    from backchannel.app import BackchannelServer, ListenError, redact_url
    from backchannel.cli.delivery_processes import DeliveryProcesses
    from backchannel.plugin_host import PluginConflictError
    from backchannel.store.database import is_unavailable

    # With delivery processes, this one only accepts; they deliver.
    processes = settings.delivery_process_count
    separate = settings.dispatcher_enabled and processes > 0
    server = BackchannelServer(
        dataclasses.replace(settings, dispatcher_enabled=False) if separate else settings
    )
    stop = _stop_on_signals()
    if settings.tls_cert_file:
        # SIGHUP reloads the TLS files (its default action would end the process).
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, server.reload_tls)
    try:
        await server.start()
    except PluginConflictError as error:
        print(f"backchannel: plugin conflict: {error}", file=sys.stderr)
        await server.stop()
        return exit_codes.CONFIG
    except TlsSetupError as error:
        print(f"backchannel: {error}", file=sys.stderr)
        await server.stop()
        return exit_codes.CONFIG
    except ListenError as error:
        print(f"backchannel: {error}", file=sys.stderr)
        await server.stop()
        return exit_codes.CONFIG
    except Exception as error:
        if not is_unavailable(error):
            raise
        print(
            f"backchannel: cannot reach the database at {redact_url(server.database_url)} "
            f"({type(error).__name__}: {error})",
            file=sys.stderr,
        )
        await server.stop()
        return exit_codes.UNAVAILABLE
    delivering: DeliveryProcesses | None = None
    if separate:
        delivering = DeliveryProcesses(processes, server.database_url, config_file)
        await delivering.start()
    host = settings.listen_host_port[0]
    print(f"Backchannel listening on {host}:{server.port} ({server.security})", flush=True)
    waiting = asyncio.create_task(server.wait())
    await asyncio.wait([waiting, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED")
    logging.getLogger("backchannel").info("shutting down")
    if delivering is not None:
        await delivering.stop(settings.shutdown_grace_seconds)
    await server.stop()
    return exit_codes.OK


async def deliver(settings: Settings, stop_with_stdin: bool) -> int:
    from backchannel.delivery_worker import DeliveryWorker

    if not settings.database_url:
        print(
            "backchannel: deliver needs BACKCHANNEL_DATABASE_URL (the database serve uses)",
            file=sys.stderr,
        )
        return exit_codes.CONFIG
    worker = DeliveryWorker(settings)
    stop = _stop_on_signals()
    if stop_with_stdin:
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: _EndOfInput(stop), sys.stdin)
    await worker.start()
    logging.getLogger("backchannel").info("delivering (pid %d)", os.getpid())
    await stop.wait()
    await worker.stop()
    return exit_codes.OK


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


class _EndOfInput(asyncio.Protocol):
    """Sets ``stop`` when the pipe on stdin closes (the process that started us is gone)."""

    def __init__(self, stop: asyncio.Event) -> None:
        self._stop = stop

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop.set()


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


def new_plugin(name: str, kind: str, directory: str) -> int:
    from pathlib import Path

    from backchannel.scaffold import ScaffoldError, new_plugin

    try:
        target = new_plugin(
            name, "formatter" if kind == "formatter" else "transport", Path(directory)
        )
    except ScaffoldError as error:
        print(f"backchannel: {error}", file=sys.stderr)
        return exit_codes.USAGE
    print(f"made {target}")
    print(f"next: cd {target} && pip install -e '.[test]' && pytest")
    return exit_codes.OK
