"""The ``slack`` transport: one POST of a JSON message per attempt."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from backchannel.plugin import (
    DeliveryResult,
    FieldProblem,
    OutboundMessage,
    ProbeStep,
    TransportContext,
)
from backchannel.plugin_support import (
    EXCERPT_CHARS,
    is_retryable_status,
    mask,
    parse_retry_after,
)
from backchannel.plugin_support.aiohttp import destination_refusal

from ._message import probe_payload, slack_payload
from ._settings import SECRET_SETTINGS, SlackSettings, read_settings

MAX_ANSWER_BYTES = 16 * 1024
#: Answers that mean the webhook no longer exists: stop sending to it.
GONE_ANSWERS = frozenset({"no_service", "channel_is_archived", "team_disabled"})


class SlackTransport:
    """Posts a summary of each feedback to a Slack incoming webhook."""

    name = "slack"
    secret_settings: frozenset[str] = SECRET_SETTINGS

    def __init__(self) -> None:
        self._context = TransportContext()
        self._session: aiohttp.ClientSession | None = None

    def check_settings(
        self, settings: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> Sequence[FieldProblem]:
        return read_settings(settings, secrets)[1]

    async def start(self, context: TransportContext) -> None:
        self._context = context
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

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        settings, problems = read_settings(message.settings, message.secrets)
        if settings is None:
            fields = ", ".join(problem.field for problem in problems)
            return DeliveryResult(succeeded=False, response_excerpt=f"invalid settings: {fields}")
        payload = slack_payload(message.document, message.event_type, settings.title)
        return await self._post(settings, payload, _secret_texts(message.secrets))

    async def probe(
        self, settings: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> Sequence[ProbeStep]:
        read, problems = read_settings(settings, secrets)
        if read is None:
            detail = "; ".join(f"{p.field} {p.description}" for p in problems)
            return [ProbeStep("settings", False, detail)]
        steps = [ProbeStep("settings", True, "the settings are complete")]
        result = await self._post(read, probe_payload(), _secret_texts(secrets))
        if result.succeeded:
            steps.append(ProbeStep("post", True, "Slack accepted a test message"))
        else:
            what = f"answered {result.remote_code}: " if result.remote_code else ""
            steps.append(
                ProbeStep(
                    "post", False, f"the test message failed: {what}{result.response_excerpt}"
                )
            )
        return steps

    async def _post(
        self, settings: SlackSettings, payload: Mapping[str, Any], secrets: Sequence[str]
    ) -> DeliveryResult:
        if self._session is None:
            raise RuntimeError("the slack transport was not started")
        body = json.dumps(payload, ensure_ascii=False).encode()
        timeout = aiohttp.ClientTimeout(
            total=settings.timeout or self._context.total_timeout,
            connect=settings.connect_timeout or self._context.connect_timeout,
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
                return _answered(response.status, response.headers, answer, len(body), secrets)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            return _unanswered(error, secrets)


def _answered(
    status: int, headers: Mapping[str, str], answer: bytes, sent: int, secrets: Sequence[str]
) -> DeliveryResult:
    text = mask(answer.decode("utf-8", errors="replace").strip(), secrets)[:EXCERPT_CHARS]
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


def _unanswered(error: BaseException, secrets: Sequence[str]) -> DeliveryResult:
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
        response_excerpt=mask(f"{what} ({type(error).__name__})", secrets),
        details={"error": type(error).__name__},
    )


def _secret_texts(secrets: Mapping[str, Any]) -> list[str]:
    return sorted((v for v in secrets.values() if isinstance(v, str) and v), key=len, reverse=True)
