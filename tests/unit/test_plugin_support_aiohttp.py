"""backchannel.plugin_support.aiohttp: the guard where aiohttp connects, reading a bounded
answer, and the words for a request that got no answer. Only this machine is connected to.

How the resolver treats answers a hostile DNS server could give is specified in
tests/plugins/test_address_guard.py, against the same resolver."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from ipaddress import ip_network

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from backchannel.plugin_support import DestinationRefused
from backchannel.plugin_support.aiohttp import (
    GuardedResolver,
    describe_unanswered,
    destination_refusal,
    read_bounded,
    refuse_address_literal,
)

LOOPBACK = [ip_network("127.0.0.0/8"), ip_network("::1/128")]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    yield port


@pytest.fixture
async def answering_server() -> AsyncIterator[str]:
    """A loopback HTTP server whose /bytes/N answers N bytes."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * int(request.match_info["size"]))

    app = web.Application()
    app.router.add_get("/bytes/{size}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def read_at_most(url: str, limit: int) -> tuple[bytes, str | None]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await read_bounded(response, limit)


async def test_answer_within_the_limit_is_read_whole(answering_server: str) -> None:
    assert await read_at_most(f"{answering_server}/bytes/100", 100) == (b"x" * 100, None)


async def test_longer_answer_is_cut_with_a_note(answering_server: str) -> None:
    body, note = await read_at_most(f"{answering_server}/bytes/5000", 1000)
    assert body == b"x" * 1000
    assert note == "truncated: only the first 1000 bytes were read"


async def test_resolver_refuses_a_real_name_of_this_machine() -> None:
    resolver = GuardedResolver(aiohttp.ThreadedResolver())
    with pytest.raises(DestinationRefused) as refused:
        await resolver.resolve("localhost", 80)
    assert refused.value.reason == "loopback"
    assert refused.value.address in ("127.0.0.1", "::1")


async def test_resolver_passes_an_allowlisted_name() -> None:
    resolver = GuardedResolver(aiohttp.ThreadedResolver(), LOOPBACK)
    results = await resolver.resolve("localhost", 80, socket.AF_INET)
    assert [result["host"] for result in results] == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("url", "reason", "address"),
    [
        ("http://127.1:8080/hook", "loopback", "127.0.0.1"),
        ("http://[::ffff:a9fe:a9fe]/", "cloud metadata", "::ffff:a9fe:a9fe"),
        ("http://1.2.3.4.5/", "unrecognisable", "1.2.3.4.5"),
    ],
)
def test_address_literal_that_may_not_be_reached_is_refused(
    url: str, reason: str, address: str
) -> None:
    with pytest.raises(DestinationRefused) as refused:
        refuse_address_literal(URL(url), ())
    assert (refused.value.reason, refused.value.address) == (reason, address)


@pytest.mark.parametrize(
    "url", ["http://example.com/", "http://93.184.216.34/", "http://127.0.0.1/"]
)
def test_names_public_and_allowlisted_addresses_pass(url: str) -> None:
    refuse_address_literal(URL(url), LOOPBACK)


async def test_refusal_is_found_behind_aiohttp_connector_error() -> None:
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(aiohttp.ThreadedResolver()))
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as failed:
            await session.get("http://localhost:9/")
    refused = destination_refusal(failed.value)
    assert refused is not None and refused.reason == "loopback"


def test_an_error_without_refusal_has_none() -> None:
    assert destination_refusal(TimeoutError()) is None


async def test_unanswered_connection_names_the_errno_not_the_address(closed_port: int) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as failed:
            await session.get(f"http://127.0.0.1:{closed_port}/")
    unanswered = describe_unanswered(
        failed.value, target="the endpoint", connect_timeout=5, timeout=15
    )
    assert unanswered.description == "cannot connect to the endpoint: connection refused"
    assert unanswered.retryable
    assert not unanswered.may_have_reached


def test_timeout_waiting_for_the_answer_may_have_reached_the_remote() -> None:
    unanswered = describe_unanswered(
        TimeoutError(), target="example.com:443", connect_timeout=5, timeout=12.5
    )
    expected = "timed out waiting for example.com:443 to answer (after 12.5 s)"
    assert unanswered.description == expected
    assert unanswered.may_have_reached
    assert unanswered.retryable


def test_invalid_url_is_not_retried() -> None:
    unanswered = describe_unanswered(
        aiohttp.InvalidURL("http://[bad"), target="the endpoint", connect_timeout=5, timeout=15
    )
    assert (unanswered.description, unanswered.retryable) == ("invalid URL for the endpoint", False)
