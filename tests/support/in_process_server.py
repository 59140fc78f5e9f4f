"""A Backchannel server inside the test's own process and event loop: the settings tests
start it with, and a channel with the service stubs to call it."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from backchannel_client.v1 import feedback_service_pb2_grpc, recipient_service_pb2_grpc

from backchannel.app import BackchannelServer
from backchannel.settings import Settings

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def settings_for_test(database_url: str, **overrides: Any) -> Settings:
    """Settings for a quick server on ``database_url``: any free port, webhooks to loopback
    allowed, fast polling, retries and heartbeats; ``overrides`` win."""
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

    async def close(self) -> None:
        """Closes the channel, then stops the server."""
        await self.channel.close()
        await self.server.stop()


async def start_server(
    settings: Settings, credentials: grpc.ChannelCredentials | None = None
) -> RunningServer:
    """The server started, and a channel to it: plaintext, or with ``credentials`` (for a
    server with TLS)."""
    server = BackchannelServer(settings)
    await server.start()
    address = f"127.0.0.1:{server.port}"
    channel = (
        grpc.aio.insecure_channel(address)
        if credentials is None
        else grpc.aio.secure_channel(address, credentials)
    )
    return RunningServer(
        server,
        channel,
        feedback_service_pb2_grpc.FeedbackServiceStub(channel),
        recipient_service_pb2_grpc.RecipientServiceStub(channel),
    )


@contextlib.asynccontextmanager
async def serving(
    database_url: str, *, credentials: grpc.ChannelCredentials | None = None, **overrides: Any
) -> AsyncIterator[RunningServer]:
    """A server on ``database_url`` with the test settings and ``overrides``, closed when
    the block ends; its channel uses ``credentials`` when given (a server with TLS)."""
    running = await start_server(settings_for_test(database_url, **overrides), credentials)
    try:
        yield running
    finally:
        await running.close()
