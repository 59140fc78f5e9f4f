"""What every Backchannel process does first and last: a migrated database pool, the key
ring that opens the stored secrets (checked against them), and the plugins loaded with
their transports started (and closed again at the end)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from pathlib import Path

import asyncpg

from backchannel import __version__, template_pool
from backchannel.plugin import TransportContext
from backchannel.plugin_host import LoadedPlugins, load_plugins
from backchannel.sealing.key_file import configured_key_ring
from backchannel.sealing.key_ring import KeyRing, KeyRingError
from backchannel.sealing.stored_keys_check import StoredSecretsError, check_stored_secrets
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


async def checked_key_ring(
    pool: asyncpg.Pool, settings: Settings, embedded_data_dir: Path | None = None
) -> KeyRing:
    """The configured key ring, once it is known to open every stored secret (and has
    sealed those an earlier version stored in plain text). StoredSecretsError otherwise."""
    try:
        ring = configured_key_ring(settings, embedded_data_dir)
    except KeyRingError as error:
        raise StoredSecretsError(str(error)) from None
    await check_stored_secrets(pool, ring)
    if ring.configured:
        log.info("secret keys: %s (from %s)", ", ".join(ring.ids), ring.source)
    return ring


async def started_plugins(settings: Settings) -> LoadedPlugins:
    """The installed plugins, each broken one reported, every transport started; the
    process's template workers get their budget (they start on first use)."""
    template_pool.configure(
        template_pool.TemplateBudget(
            workers=settings.template_workers,
            seconds=settings.template_timeout_seconds,
            max_output_bytes=settings.template_max_output_bytes,
        )
    )
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
    """Closes every transport, then stops the process's template workers."""
    for transport in plugins.transports.values():
        with contextlib.suppress(Exception):
            await transport.aclose()
    await asyncio.to_thread(template_pool.close)
