"""A process that only delivers: ``backchannel deliver``. It claims due deliveries from the
database like any replica's dispatcher, and serves no API. ``backchannel serve`` starts
such processes when ``BACKCHANNEL_DELIVERY_PROCESSES`` is above 0."""

from __future__ import annotations

import asyncpg

from backchannel.delivery.engine import DeliveryEngine
from backchannel.metrics import configure_metrics
from backchannel.plugin_host import LoadedPlugins
from backchannel.process_setup import (
    checked_key_ring,
    close_transports,
    migrated_pool,
    started_plugins,
)
from backchannel.settings import Settings
from backchannel.store.database import DELIVERIES_CHANNEL, Listener
from backchannel.telemetry import configure_tracing


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
        configure_metrics(s.otel_exporter, s.otel_endpoint)
        self._pool = pool = await migrated_pool(s.database_url, s)
        key_ring = await checked_key_ring(pool, s)
        self._plugins = plugins = await started_plugins(s)
        self._engine = engine = DeliveryEngine(pool, plugins, s, key_ring)
        engine.start()
        self._listener = Listener(s.database_url, {DELIVERIES_CHANNEL: engine.wake}, [engine.wake])
        self._listener.start()

    async def stop(self) -> None:
        if self._engine is not None:
            await self._engine.stop()
        if self._listener is not None:
            await self._listener.stop()
        if self._plugins is not None:
            await close_transports(self._plugins)
        if self._pool is not None:
            await self._pool.close()
