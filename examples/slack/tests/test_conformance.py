"""The slack transport passes Backchannel's conformance suite against a local Slack stand-in,
and answers Slack's own refusals as documented."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from slack_stand_in import SlackStandIn

from backchannel.plugin import OutboundMessage, Transport, TransportContext
from backchannel.plugin_host import load_plugins
from backchannel.testing import (
    Arrival,
    ReceivedPayloads,
    TransportConformance,
    loopback_context,
    sample_message,
    unused_port,
)


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    stand_in = SlackStandIn()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


async def started(context: TransportContext) -> Transport:
    transport = load_plugins().transports["slack"]
    await transport.start(context)
    return transport


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    transport = await started(loopback_context())
    yield transport
    await transport.aclose()


class TestSlackConformance(TransportConformance):
    distribution = "backchannel-slack"

    def expected_fragments(self, message: OutboundMessage) -> Sequence[bytes]:
        # Slack gets a summary of the document, not the rendered content.
        return [str(message.document[key]).encode() for key in ("lead_id", "source_id")]

    @pytest.fixture
    def working_settings(self) -> dict[str, Any]:
        return {"title": "Feedback from Zoë's leads"}

    @pytest.fixture
    def working_secrets(self, slack: SlackStandIn) -> dict[str, Any]:
        return {"url": slack.url()}

    @pytest.fixture
    def broken_settings(self) -> dict[str, Any]:
        return {}

    @pytest.fixture
    def broken_secrets(self) -> dict[str, Any]:
        return {"url": SlackStandIn(port=unused_port()).url()}

    @pytest.fixture
    def received_payloads(self, slack: SlackStandIn) -> ReceivedPayloads:
        return lambda: [
            Arrival(json.dumps(message, ensure_ascii=False).encode()) for message in slack.accepted
        ]


# --- what Slack answers --------------------------------------------------------------------


async def test_a_message_has_summary_text_and_blocks(
    transport: Transport, slack: SlackStandIn
) -> None:
    result = await transport.send(sample_message({}, {"url": slack.url()}))
    assert result.succeeded and result.remote_code == 200 and result.response_excerpt == "ok"
    [message] = slack.accepted
    assert message["text"].startswith("Lead LU-Zoë-日本: conversion, converted")
    assert [block["type"] for block in message["blocks"]][:2] == ["header", "section"]


async def test_markup_in_the_document_is_escaped(transport: Transport, slack: SlackStandIn) -> None:
    await transport.send(sample_message({}, {"url": slack.url()}))
    text = json.dumps(slack.accepted[0]["blocks"], ensure_ascii=False)
    assert "<b>" not in text and "&lt;b&gt;&amp;amp;&lt;/b&gt;" in text


async def test_429_is_retryable_after_the_time_slack_asks_for(
    transport: Transport, slack: SlackStandIn
) -> None:
    slack.throttle = 1
    result = await transport.send(sample_message({}, {"url": slack.url()}))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, 429)
    assert result.retry_after == 3.0


async def test_invalid_token_is_not_retryable(transport: Transport, slack: SlackStandIn) -> None:
    result = await transport.send(sample_message({}, {"url": slack.url(secret="wrong")}))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, False, 403)
    assert result.response_excerpt == "invalid_token" and not result.gone


async def test_no_service_is_not_retryable_and_gone(
    transport: Transport, slack: SlackStandIn
) -> None:
    url = slack.url(path="/services/T0000GONE/B0000GONE")
    result = await transport.send(sample_message({}, {"url": url}))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, False, 404)
    assert result.gone


# --- destination addresses -----------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_is_refused_unless_allowlisted(slack: SlackStandIn, host: str) -> None:
    transport = await started(TransportContext())
    try:
        url = slack.url().replace("127.0.0.1", host)
        result = await transport.send(sample_message({}, {"url": url}))
    finally:
        await transport.aclose()
    assert (result.succeeded, result.retryable) == (False, False)
    assert "loopback" in result.response_excerpt
    assert slack.requests == 0


def test_check_settings_refuses_plain_http_to_a_public_host(transport: Transport) -> None:
    problems = transport.check_settings({}, {"url": "http://hooks.slack.com/services/T/B/x"})
    assert [problem.field for problem in problems] == ["secret_settings.url"]
