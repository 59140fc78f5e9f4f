"""What every Backchannel process does first and last: a migrated database pool, and the
plugins loaded with their transports started (and closed again at the end)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import asyncpg

from backchannel import __version__
from backchannel.plugin import TransportContext
from backchannel.plugin_host import LoadedPlugins, load_plugins
from backchannel.settings import Settings, plugin_name
from backchannel.store.database import create_pool
from backchannel.store.migrations import apply_migrations

log = logging.getLogger(__name__)


async def migrated_pool(dsn: str, settings: Settings) -> asyncpg.Pool:
    """A connection pool on ``dsn``, the database migrated to this version first."""
    pool = await create_pool(dsn, settings.database_pool_size)
    async with pool.acquire() as connection:
        await apply_migrations(connection)
    return pool


async def started_plugins(settings: Settings) -> LoadedPlugins:
    """The installed plugins, each broken one reported, every transport started."""
    plugins = load_plugins(frozenset(settings.disabled_plugins))
    for failed in plugins.failed:
        log.error(
            "plugin %s %s failed to load: %s", failed.distribution, failed.version, failed.error
        )
    context = TransportContext(
        allowed_networks=settings.outbound_allow_networks,
        user_agent=f"Backchannel/{__version__}",
        connect_timeout=settings.outbound_connect_timeout_seconds,
        total_timeout=settings.outbound_timeout_seconds,
    )
    unused = set(settings.plugin_settings) - {plugin_name(n) for n in plugins.transports}
    for name in sorted(unused):
        log.warning(
            "plugin settings for %r name no loaded transport (loaded: %s)",
            name,
            ", ".join(sorted(plugins.transports)) or "none",
        )
    for transport in plugins.transports.values():
        own = settings.plugin_settings.get(plugin_name(transport.name), {})
        await transport.start(dataclasses.replace(context, plugin_settings=dict(own)))
    return plugins


async def close_transports(plugins: LoadedPlugins) -> None:
    for transport in plugins.transports.values():
        with contextlib.suppress(Exception):
            await transport.aclose()
