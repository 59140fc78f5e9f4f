"""The slack transport passes Backchannel's conformance suite against a local Slack stand-in,
and answers Slack's own refusals as documented."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from slack_stand_in import SlackStandIn

from backchannel.plugin import DeliveryResult, OutboundMessage, Transport, TransportContext
from backchannel.testing import (
    Arrival,
    ReceivedPayloads,
    TransportConformance,
    installed_transport,
    loopback_context,
    prepare_recipient,
    sample_message,
    settings_problems,
    unused_port,
)


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    stand_in = SlackStandIn()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


async def started(context: TransportContext) -> Transport[Any]:
    transport = installed_transport("slack")
    await transport.start(context)
    return transport


@pytest.fixture
async def transport() -> AsyncIterator[Transport[Any]]:
    transport = await started(loopback_context())
    yield transport
    await transport.aclose()


async def send(transport: Transport[Any], url: str) -> DeliveryResult:
    """One message to the webhook at ``url``, sent as the host sends it."""
    return await prepare_recipient(transport, {}, {"url": url}).send(sample_message(), 30)


class TestSlackConformance(TransportConformance):
    distribution = "backchannel-slack"

    def expected_fragments(self, message: OutboundMessage) -> Sequence[bytes]:
        # Slack gets a summary of the document, not the rendered content.
        document = message.document
        return [document.get(key, "").encode() for key in ("lead_id", "source_id")]

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
    transport: Transport[Any], slack: SlackStandIn
) -> None:
    result = await send(transport, slack.url())
    assert result.succeeded and result.remote_code == 200 and result.response_excerpt == "ok"
    [message] = slack.accepted
    assert message["text"].startswith("Lead LU-Zoë-日本: conversion, converted")
    assert [block["type"] for block in message["blocks"]][:2] == ["header", "section"]


async def test_markup_in_the_document_is_escaped(
    transport: Transport[Any], slack: SlackStandIn
) -> None:
    await send(transport, slack.url())
    text = json.dumps(slack.accepted[0]["blocks"], ensure_ascii=False)
    assert "<b>" not in text and "&lt;b&gt;&amp;amp;&lt;/b&gt;" in text


async def test_429_is_retryable_after_the_time_slack_asks_for(
    transport: Transport[Any], slack: SlackStandIn
) -> None:
    slack.throttle = 1
    result = await send(transport, slack.url())
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, 429)
    assert result.retry_after == 3.0


async def test_invalid_token_is_not_retryable(
    transport: Transport[Any], slack: SlackStandIn
) -> None:
    result = await send(transport, slack.url(secret="wrong"))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, False, 403)
    assert result.response_excerpt == "invalid_token" and not result.gone


async def test_no_service_is_not_retryable_and_gone(
    transport: Transport[Any], slack: SlackStandIn
) -> None:
    url = slack.url(path="/services/T0000GONE/B0000GONE")
    result = await send(transport, url)
    assert (result.succeeded, result.retryable, result.remote_code) == (False, False, 404)
    assert result.gone


# --- destination addresses -----------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_is_refused_unless_allowlisted(slack: SlackStandIn, host: str) -> None:
    transport = await started(TransportContext())
    try:
        url = slack.url().replace("127.0.0.1", host)
        result = await send(transport, url)
    finally:
        await transport.aclose()
    assert (result.succeeded, result.retryable) == (False, False)
    assert "loopback" in result.response_excerpt
    assert slack.requests == 0


def test_plain_http_to_a_public_host_is_refused(transport: Transport[Any]) -> None:
    problems = settings_problems(transport, {}, {"url": "http://hooks.slack.com/services/T/B/x"})
    assert [problem.field for problem in problems] == ["secret_settings.url"]
