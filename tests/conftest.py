"""Shared fixtures: a real PostgreSQL cluster, a fresh database per test, a running
Backchannel server, a real webhook receiver and a real sshd. The helpers they call live in
tests/support, and tests import them from there, never from here."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from support.access import Secured, secured_server
from support.in_process_server import RunningServer, serving
from support.openpgp_keys import Keyring
from support.postgres_cluster import PostgresCluster
from support.receiver import WebhookReceiver, running_receiver
from support.sftp_server import SshServer, fresh_remote_dir, running_sshd

from backchannel.store.database import create_pool
from backchannel.store.migrations import apply_migrations

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
    async with serving(database_url) as running:
        yield running


@pytest.fixture
async def secured(database_url: str) -> AsyncIterator[Secured]:
    """A server requiring credentials (authentication on), and its admin token's calls."""
    async with secured_server(database_url) as server:
        yield server


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with running_receiver() as sink:
        yield sink


@pytest.fixture(scope="session")
def signing_secret() -> str:
    return "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshServer]:
    """A real OpenSSH sshd on loopback for the whole session (needs root)."""
    with running_sshd() as server:
        yield server


@pytest.fixture
def remote_dir(sshd: SshServer) -> Iterator[Path]:
    """A fresh directory in the sftp test user's home, owned by that user."""
    with fresh_remote_dir(sshd) as path:
        yield path


@pytest.fixture(scope="session")
def keyring() -> Iterator[Keyring]:
    """A GnuPG keyring of the tests' own, to make keys and decrypt batch files."""
    ring = Keyring()
    try:
        yield ring
    finally:
        ring.close()


def pytest_report_header() -> str:
    return f"backchannel tests; TMPDIR={os.environ.get('TMPDIR', '/tmp')}"
