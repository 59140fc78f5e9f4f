"""Shared fixtures: a real PostgreSQL cluster, a fresh database per test, a running
Backchannel server and a real webhook receiver."""

from __future__ import annotations

import ipaddress
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from support.postgres_cluster import PostgresCluster
from support.receiver import WebhookReceiver

from backchannel.app import BackchannelServer
from backchannel.settings import Settings
from backchannel.store.database import create_pool
from backchannel.store.migrations import apply_migrations
from backchannel.v1 import feedback_service_pb2_grpc, recipient_service_pb2_grpc

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

# The servers these tests run in their own process share this tracer provider, which
# samples every trace (OpenTelemetry's default), so a test can add a processor and look at
# the spans. A server left to itself with no exporter samples none (see
# backchannel.telemetry); tests/e2e/test_tracing.py checks that on a `backchannel serve`.
trace.set_tracer_provider(TracerProvider())


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
async def database_url(postgres: PostgresCluster) -> AsyncIterator[str]:
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres.url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield postgres.url(name)
    admin = await asyncpg.connect(postgres.url())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def test_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "listen": "127.0.0.1:0",
        "outbound_allow_networks": LOOPBACK,
        "poll_interval_seconds": 0.2,
        "retry_schedule": (0.0, 0.2, 0.2),
        "stream_heartbeat_seconds": 0.5,
        "shutdown_grace_seconds": 2.0,
        "lease_seconds": 10.0,
        "database_pool_size": 8,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class RunningServer:
    server: BackchannelServer
    channel: grpc.aio.Channel
    feedback: feedback_service_pb2_grpc.FeedbackServiceStub
    recipients: recipient_service_pb2_grpc.RecipientServiceStub

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"


async def start_server(settings: Settings) -> RunningServer:
    server = BackchannelServer(settings)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    return RunningServer(
        server,
        channel,
        feedback_service_pb2_grpc.FeedbackServiceStub(channel),
        recipient_service_pb2_grpc.RecipientServiceStub(channel),
    )


@pytest.fixture
async def store_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The store's own pool on the test's database, migrated, holding one active webhook
    recipient, ``acme``, whose url is ``http://127.0.0.1:9/one`` (never called)."""
    pool = await create_pool(database_url, 4)
    async with pool.acquire() as connection:
        await apply_migrations(connection)
        await connection.execute(
            "INSERT INTO recipients (id, recipient_type, transport, format, state,"
            " transport_settings) VALUES ('acme', 'source', 'webhook', 'json', 'active',"
            ' \'{"url": "http://127.0.0.1:9/one"}\')'
        )
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def backchannel(database_url: str) -> AsyncIterator[RunningServer]:
    running = await start_server(test_settings(database_url))
    try:
        yield running
    finally:
        await running.channel.close()
        await running.server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    sink = WebhookReceiver()
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


@pytest.fixture(scope="session")
def signing_secret() -> str:
    return "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def pytest_report_header() -> str:
    return f"backchannel tests; TMPDIR={os.environ.get('TMPDIR', '/tmp')}"
