"""A process that only delivers: ``backchannel deliver``. It claims due deliveries from the
database like any replica's dispatcher, and serves no API. ``backchannel serve`` starts
such processes when ``BACKCHANNEL_DELIVERY_PROCESSES`` is above 0."""

from __future__ import annotations

import contextlib
import logging

import asyncpg

from backchannel import __version__
from backchannel.delivery.engine import DeliveryEngine
from backchannel.plugin import TransportContext
from backchannel.plugin_host import LoadedPlugins, load_plugins
from backchannel.settings import Settings
from backchannel.store.database import DELIVERIES_CHANNEL, Listener, create_pool
from backchannel.store.migrations import apply_migrations
from backchannel.telemetry import configure_tracing

log = logging.getLogger(__name__)


class DeliveryWorker:
    def __init__(self, settings: Settings) -> None:
        if not settings.database_url:
            raise ValueError("a delivery process needs BACKCHANNEL_DATABASE_URL")
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._plugins: LoadedPlugins | None = None
        self._engine: DeliveryEngine | None = None
        self._listener: Listener | None = None

    async def start(self) -> None:
        s = self.settings
        configure_tracing(s.otel_exporter, s.otel_endpoint)
        self._pool = pool = await create_pool(s.database_url, s.database_pool_size)
        async with pool.acquire() as connection:
            await apply_migrations(connection)
        self._plugins = plugins = load_plugins(frozenset(s.disabled_plugins))
        for failed in plugins.failed:
            log.error(
                "plugin %s %s failed to load: %s", failed.distribution, failed.version, failed.error
            )
        context = TransportContext(
            allowed_networks=s.outbound_allow_networks,
            user_agent=f"Backchannel/{__version__}",
            connect_timeout=s.outbound_connect_timeout_seconds,
            total_timeout=s.outbound_timeout_seconds,
        )
        for transport in plugins.transports.values():
            await transport.start(context)
        self._engine = engine = DeliveryEngine(pool, plugins, s)
        engine.start()
        self._listener = Listener(s.database_url, {DELIVERIES_CHANNEL: engine.wake}, [engine.wake])
        self._listener.start()

    async def stop(self) -> None:
        if self._engine is not None:
            await self._engine.stop()
        if self._listener is not None:
            await self._listener.stop()
        if self._plugins is not None:
            for transport in self._plugins.transports.values():
                with contextlib.suppress(Exception):
                    await transport.aclose()
        if self._pool is not None:
            await self._pool.close()
