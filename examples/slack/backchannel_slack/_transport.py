"""The ``slack`` transport: one POST of a JSON message per attempt."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from backchannel.plugin import (
    DeliveryResult,
    OutboundMessage,
    ProbeStep,
    Transport,
    TransportContext,
)
from backchannel.plugin_support import EXCERPT_CHARS, is_retryable_status, parse_retry_after
from backchannel.plugin_support.aiohttp import destination_refusal

from ._message import probe_payload, slack_payload
from ._settings import SlackSettings

MAX_ANSWER_BYTES = 16 * 1024
#: Answers that mean the webhook no longer exists: stop sending to it.
GONE_ANSWERS = frozenset({"no_service", "channel_is_archived", "team_disabled"})


class SlackTransport(Transport[SlackSettings]):
    """Posts a summary of each feedback to a Slack incoming webhook. The host checks the
    settings, guards the destination and masks the URL in whatever Slack answers."""

    name = "slack"
    settings_model = SlackSettings

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def start(self, context: TransportContext) -> None:
        await super().start(context)
        # The host's connector refuses loopback, private and metadata addresses (unless
        # allowlisted) wherever a connection is made.
        self._session = aiohttp.ClientSession(
            connector=context.http_connector(use_dns_cache=False),
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"user-agent": context.user_agent},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, message: OutboundMessage, settings: SlackSettings) -> DeliveryResult:
        payload = slack_payload(message.document, message.event_type, settings.title)
        return await self._post(settings, payload)

    async def probe(self, settings: SlackSettings) -> list[ProbeStep]:
        result = await self._post(settings, probe_payload())
        if result.succeeded:
            return [ProbeStep("post", True, "Slack accepted a test message")]
        what = f"answered {result.remote_code}: " if result.remote_code else ""
        return [
            ProbeStep("post", False, f"the test message failed: {what}{result.response_excerpt}")
        ]

    async def _post(self, settings: SlackSettings, payload: Mapping[str, Any]) -> DeliveryResult:
        if self._session is None:
            raise RuntimeError("the slack transport was not started")
        body = json.dumps(payload, ensure_ascii=False).encode()
        timeout = aiohttp.ClientTimeout(
            total=settings.timeout_seconds or self.context.total_timeout,
            connect=settings.connect_timeout_seconds or self.context.connect_timeout,
        )
        try:
            async with self._session.post(
                settings.url,
                data=body,
                headers={"content-type": "application/json; charset=utf-8"},
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                answer = await response.content.read(MAX_ANSWER_BYTES)
                return _answered(response.status, response.headers, answer, len(body))
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            return _unanswered(error)


def _answered(status: int, headers: Mapping[str, str], answer: bytes, sent: int) -> DeliveryResult:
    text = answer.decode("utf-8", errors="replace").strip()[:EXCERPT_CHARS]
    if 200 <= status <= 299:
        return DeliveryResult(
            succeeded=True, remote_code=status, bytes_sent=sent, response_excerpt=text
        )
    retryable = is_retryable_status(status)
    return DeliveryResult(
        succeeded=False,
        retryable=retryable,
        remote_code=status,
        retry_after=parse_retry_after(headers.get("retry-after"), time.time()),
        bytes_sent=sent,
        response_excerpt=text or f"Slack answered {status}",
        gone=status == 410 or text in GONE_ANSWERS,
    )


def _unanswered(error: BaseException) -> DeliveryResult:
    refused = destination_refusal(error)
    if refused is not None:
        return DeliveryResult(succeeded=False, response_excerpt=str(refused))
    if isinstance(error, TimeoutError):
        what = "timed out waiting for Slack"
    elif isinstance(error, aiohttp.ClientConnectorError):
        what = "cannot connect to the Slack webhook"
    else:
        what = "the request to the Slack webhook failed"
    return DeliveryResult(
        succeeded=False,
        retryable=True,
        response_excerpt=f"{what} ({type(error).__name__})",
        details={"error": type(error).__name__},
    )
