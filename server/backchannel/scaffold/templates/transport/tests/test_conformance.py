"""Backchannel's conformance suite, run against a real endpoint on loopback.

TODO: replace the aiohttp endpoint with a real server for your protocol (an SMTP server, an
sshd, ...), started by a fixture. No mocks: the suite checks what really arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.metadata import entry_points
from typing import Any

import pytest
from aiohttp import web

from backchannel.plugin import Transport
from backchannel.testing import (
    Arrival,
    ReceivedPayloads,
    TransportConformance,
    installed_transport,
    loopback_context,
    unused_port,
)

TOKEN = "tok-template-5c1d9e"


def test_plugin_is_installed() -> None:
    names = [ep.name for ep in entry_points(group="backchannel")]
    assert "myplugin" in names


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[str, list[Arrival]]]:
    """A real HTTP server on loopback that records what it receives."""
    arrivals: list[Arrival] = []

    async def record(request: web.Request) -> web.Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401)
        if request.method == "POST":
            body = await request.read()
            arrivals.append(Arrival(body, request.headers.get("idempotency-key"), transmitted=body))
        return web.Response(text="accepted")

    app = web.Application()
    app.router.add_route("*", "/inbox", record)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/inbox", arrivals
    await runner.cleanup()


class TestMyTransportConformance(TransportConformance):
    distribution = "backchannel-myplugin"

    @pytest.fixture
    async def transport(self) -> AsyncIterator[Transport[Any]]:
        transport = installed_transport("myplugin")
        await transport.start(loopback_context())
        yield transport
        await transport.aclose()

    @pytest.fixture
    def working_settings(self, endpoint: tuple[str, list[Arrival]]) -> dict[str, Any]:
        return {"url": endpoint[0]}

    @pytest.fixture
    def working_secrets(self) -> dict[str, Any]:
        return {"token": TOKEN}

    @pytest.fixture
    def broken_settings(self) -> dict[str, Any]:
        return {"url": f"http://127.0.0.1:{unused_port()}/inbox"}

    @pytest.fixture
    def received_payloads(self, endpoint: tuple[str, list[Arrival]]) -> ReceivedPayloads:
        return lambda: list(endpoint[1])
