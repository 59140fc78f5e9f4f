"""The ``webhook`` transport: one signed HTTP POST per attempt, over one shared pool."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from multidict import CIMultiDict

from backchannel.plugin import (
    DeliveryResult,
    FieldProblem,
    OutboundMessage,
    ProbeStep,
    RenderedContent,
    TransportContext,
)
from backchannel.plugin_support import EXCERPT_CHARS, DestinationRefused, SettingsMemo, excerpt
from backchannel.plugin_support.aiohttp import read_bounded

from ._outcome import error_result, response_result
from ._settings import SECRET_SETTINGS, Endpoint, read_endpoint
from ._signing import signature_header

#: At most this much of a response body is read; the rest is left unread.
RESPONSE_READ_LIMIT = 64 * 1024


class WebhookTransport:
    """Posts rendered feedback to a recipient's URL, signed per Standard Webhooks."""

    name = "webhook"
    secret_settings: frozenset[str] = SECRET_SETTINGS

    def __init__(self, *, max_connections: int = 0, max_connections_per_host: int = 0) -> None:
        # No pool-wide cap: the host bounds how many sends run at once, per process and per
        # recipient, so one recipient that never answers cannot hold every connection.
        self._max_connections = max_connections
        self._max_connections_per_host = max_connections_per_host
        self._context = TransportContext()
        self._session: aiohttp.ClientSession | None = None
        self._endpoints = SettingsMemo(read_endpoint)

    def check_settings(
        self, settings: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> Sequence[FieldProblem]:
        return read_endpoint(settings, secrets)[1]

    async def start(self, context: TransportContext) -> None:
        if self._session is not None:
            raise RuntimeError("the webhook transport is already started")
        self._context = context
        # The host's connector refuses destinations it does not allow, at every connect.
        connector = context.http_connector(
            limit=self._max_connections, limit_per_host=self._max_connections_per_host
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # Recipients share the pool: a cookie one of them sets must not reach another.
            cookie_jar=aiohttp.DummyCookieJar(),
            # Uncompressed answers keep the bounded read of a response body bounded.
            skip_auto_headers=("Accept-Encoding",),
            trust_env=False,
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        session = self._session
        if session is None:
            raise RuntimeError("the webhook transport is not started")
        endpoint, problems = self._endpoints(message.settings, message.secrets)
        if endpoint is None:
            listed = "; ".join(f"{p.field} {p.description}" for p in problems)
            return DeliveryResult(
                succeeded=False, response_excerpt=f"invalid settings: {listed}"[:EXCERPT_CHARS]
            )
        body = message.content.body
        connect_timeout = endpoint.connect_timeout or self._context.connect_timeout
        timeout = endpoint.timeout or self._context.total_timeout
        target = _target(endpoint)
        try:
            async with session.post(
                endpoint.url,
                data=body,
                headers=self._headers(message, endpoint),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout),
            ) as response:
                raw, body_note = await read_bounded(response, RESPONSE_READ_LIMIT)
                return response_result(
                    status=response.status,
                    headers=response.headers,
                    body_excerpt=excerpt(raw, response.charset, endpoint.secret_values),
                    body_note=body_note,
                    bytes_sent=len(body),
                    secrets=endpoint.secret_values,
                    now=time.time(),
                )
        except (aiohttp.ClientError, TimeoutError, DestinationRefused) as error:
            return error_result(
                error,
                target=target,
                show_address=not endpoint.url_is_secret,
                body_length=len(body),
                connect_timeout=connect_timeout,
                timeout=timeout,
                secrets=endpoint.secret_values,
            )

    async def probe(
        self, settings: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> Sequence[ProbeStep]:
        """Posts a signed test message (event type ``backchannel.test``) to the endpoint."""
        endpoint, problems = read_endpoint(settings, secrets)
        if endpoint is None:
            listed = "; ".join(f"{p.field} {p.description}" for p in problems)
            return [ProbeStep("settings", False, f"the settings are not usable: {listed}")]
        probe_id = f"probe_{int(time.time() * 1000)}"
        body = json.dumps(
            {"type": "backchannel.test", "id": probe_id, "message": "Backchannel test message"}
        ).encode()
        result = await self.send(
            OutboundMessage(
                delivery_id=probe_id,
                feedback_id="",
                recipient_id="",
                attempt=1,
                event_type="backchannel.test",
                content=RenderedContent(body, "application/json", "json"),
                document={"kind": "unspecified"},
                settings=settings,
                secrets=secrets,
            )
        )
        target = _target(endpoint)
        steps = [ProbeStep("settings", True, "the settings are complete")]
        if result.remote_code is None:
            steps.append(
                ProbeStep("connect", False, f"no answer from {target}: {result.response_excerpt}")
            )
            return steps
        steps.append(ProbeStep("connect", True, f"{target} answered"))
        if result.succeeded:
            steps.append(
                ProbeStep("test message", True, f"accepted with HTTP {result.remote_code}")
            )
        else:
            steps.append(
                ProbeStep(
                    "test message",
                    False,
                    f"refused with HTTP {result.remote_code}: {result.response_excerpt}",
                )
            )
        return steps

    def _headers(self, message: OutboundMessage, endpoint: Endpoint) -> CIMultiDict[str]:
        timestamp = int(time.time())
        headers = CIMultiDict(
            [
                ("Content-Type", message.content.content_type),
                ("User-Agent", self._context.user_agent),
                ("webhook-id", message.delivery_id),
                ("webhook-timestamp", str(timestamp)),
            ]
        )
        if endpoint.signing_keys:
            headers["webhook-signature"] = signature_header(
                endpoint.signing_keys, message.delivery_id, timestamp, message.content.body
            )
        if message.traceparent:
            headers["traceparent"] = message.traceparent
        headers.extend(endpoint.headers)
        return headers


def _target(endpoint: Endpoint) -> str:
    """How excerpts name the destination: never by any part of a URL given as a secret."""
    if endpoint.url_is_secret:
        return "the endpoint"
    return f"{endpoint.url.host_port_subcomponent or endpoint.url.host}"
