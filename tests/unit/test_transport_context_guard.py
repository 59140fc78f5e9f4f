"""The host's guard in TransportContext: resolve, connect and http_connector reach only
admitted addresses. Nothing here leaves this machine: loopback stands for every refused
range, and it is allowlisted only where a test says so."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from ipaddress import ip_network

import aiohttp
import pytest
from aiohttp import web

from backchannel.plugin import TransportContext
from backchannel.plugin_support import DestinationRefused
from backchannel.plugin_support.aiohttp import destination_refusal

GUARDED = TransportContext()
LOOPBACK_ALLOWED = TransportContext(
    allowed_networks=(ip_network("127.0.0.0/8"), ip_network("::1/128"))
)


@pytest.fixture
async def listening() -> AsyncIterator[int]:
    """An HTTP server on 127.0.0.1 answering 200; its port."""

    async def reached(_request: web.Request) -> web.Response:
        return web.Response(text="reached")

    app = web.Application()
    app.router.add_get("/", reached)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1]
    await runner.cleanup()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "2130706433", "localhost"])
async def test_resolve_refuses_every_spelling_of_loopback(host: str) -> None:
    with pytest.raises(DestinationRefused) as refused:
        await GUARDED.resolve(host, 22)
    assert refused.value.reason == "loopback"


async def test_resolve_gives_the_admitted_addresses_when_allowlisted() -> None:
    assert await LOOPBACK_ALLOWED.resolve("127.1", 22) == ["127.0.0.1"]


async def test_connect_refuses_before_any_packet_and_connects_when_allowlisted(
    listening: int,
) -> None:
    with pytest.raises(DestinationRefused):
        await GUARDED.connect("127.0.0.1", listening)
    sock = await LOOPBACK_ALLOWED.connect("localhost", listening)
    try:
        assert sock.getpeername()[:2] == ("127.0.0.1", listening)
        assert sock.type == socket.SOCK_STREAM
    finally:
        sock.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_http_connector_refuses_names_and_address_literals_alike(
    listening: int, host: str
) -> None:
    async with aiohttp.ClientSession(connector=GUARDED.http_connector()) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as failed:
            await session.get(f"http://{host}:{listening}/")
    refused = destination_refusal(failed.value)
    assert refused is not None and refused.reason == "loopback"


async def test_http_connector_reaches_an_allowlisted_address(listening: int) -> None:
    connector = LOOPBACK_ALLOWED.http_connector(limit=1)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"http://127.0.0.1:{listening}/") as response,
    ):
        assert await response.text() == "reached"
