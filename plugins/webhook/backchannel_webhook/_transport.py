"""The ``webhook`` transport: one signed HTTP POST per attempt, over one shared pool."""

from __future__ import annotations

import json
import time

import aiohttp
from multidict import CIMultiDict

from backchannel.plugin import (
    DeliveryResult,
    OutboundFile,
    OutboundMessage,
    ProbeStep,
    RenderedContent,
    Transport,
    TransportContext,
)
from backchannel.plugin_support import (
    DestinationRefused,
    SentBytes,
    excerpt,
    http_client_facts,
    with_facts,
)
from backchannel.plugin_support.aiohttp import read_bounded

from ._outcome import error_result, response_result
from ._settings import WebhookSettings
from ._signing import signature_header, signature_header_for_stream

#: At most this much of a response body is read; the rest is left unread.
RESPONSE_READ_LIMIT = 64 * 1024


class WebhookTransport(Transport[WebhookSettings]):
    """Posts rendered feedback to a recipient's URL, signed per Standard Webhooks."""

    name = "webhook"
    settings_model = WebhookSettings

    def __init__(self, *, max_connections: int = 0, max_connections_per_host: int = 0) -> None:
        # No pool-wide cap: the host bounds how many sends run at once, per process and per
        # recipient, so one recipient that never answers cannot hold every connection.
        self._max_connections = max_connections
        self._max_connections_per_host = max_connections_per_host
        self._session: aiohttp.ClientSession | None = None

    async def start(self, context: TransportContext) -> None:
        if self._session is not None:
            raise RuntimeError("the webhook transport is already started")
        await super().start(context)
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

    async def send(self, message: OutboundMessage, settings: WebhookSettings) -> DeliveryResult:
        session = self._session
        if session is None:
            raise RuntimeError("the webhook transport is not started")
        body = message.content.body
        sent = SentBytes(body)
        connect_timeout = settings.connect_timeout_seconds or self.context.connect_timeout
        timeout = settings.timeout_seconds or self.context.total_timeout
        try:
            async with session.post(
                settings.endpoint,
                data=body,
                headers=self._headers(message, settings),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout),
            ) as response:
                raw, body_note = await read_bounded(response, RESPONSE_READ_LIMIT)
                answered = response_result(
                    status=response.status,
                    headers=response.headers,
                    body_excerpt=excerpt(raw, response.charset, ()),
                    body_note=body_note,
                    sent=sent,
                    now=time.time(),
                )
                facts = _facts(settings, status=response.status)
                return with_facts(answered, facts)
        except (aiohttp.ClientError, TimeoutError, DestinationRefused) as error:
            unanswered = error_result(
                error,
                target=_target(settings),
                show_address=not settings.is_secret("url"),
                sent=sent,
                connect_timeout=connect_timeout,
                timeout=timeout,
            )
            return with_facts(unanswered, _facts(settings, error=error))

    async def send_file(self, file: OutboundFile, settings: WebhookSettings) -> DeliveryResult:
        """POSTs a batch file as the request body, streamed, with its ``Content-Type`` and
        a ``Content-Disposition`` naming it, signed like any webhook with the batch id as
        ``webhook-id`` (the same on every attempt). The signature is computed over the
        body in a first pass over the file, then the body is sent in a second. Companion
        files are not sent: their facts travel as headers."""
        session = self._session
        if session is None:
            raise RuntimeError("the webhook transport is not started")
        connect_timeout = settings.connect_timeout_seconds or self.context.connect_timeout
        timeout = (settings.timeout_seconds or self.context.total_timeout) + file.size / 1e6
        timestamp = int(time.time())
        headers = CIMultiDict(
            [
                ("Content-Type", file.content_type),
                ("Content-Length", str(file.size)),
                ("Content-Disposition", f'attachment; filename="{file.name}"'),
                ("User-Agent", self.context.user_agent),
                ("webhook-id", file.batch_id),
                ("webhook-timestamp", str(timestamp)),
                ("X-Backchannel-Batch-Id", file.batch_id),
                ("X-Backchannel-Item-Count", str(file.item_count)),
                ("X-Backchannel-Content-SHA256", file.sha256),
            ]
        )
        if settings.signing_secrets:
            signer = signature_header_for_stream(settings.signing_secrets, file.batch_id, timestamp)
            async for chunk in file.open():
                signer.update(chunk)
            headers["webhook-signature"] = signer.header()
        if file.traceparent:
            headers["traceparent"] = file.traceparent
        headers.extend(settings.headers.items())
        headers.extend(settings.auth_headers)
        # Counted as aiohttp takes it: what was streamed, not what the file claims to be.
        sent = SentBytes()
        try:
            async with session.post(
                settings.endpoint,
                data=sent.counted(file.open()),
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout),
            ) as response:
                raw, body_note = await read_bounded(response, RESPONSE_READ_LIMIT)
                return response_result(
                    status=response.status,
                    headers=response.headers,
                    body_excerpt=excerpt(raw, response.charset, ()),
                    body_note=body_note,
                    sent=sent,
                    now=time.time(),
                )
        except (aiohttp.ClientError, TimeoutError, DestinationRefused) as error:
            return error_result(
                error,
                target=_target(settings),
                show_address=not settings.is_secret("url"),
                sent=sent,
                connect_timeout=connect_timeout,
                timeout=timeout,
            )

    async def probe(self, settings: WebhookSettings) -> list[ProbeStep]:
        """Posts a signed test message (event type ``backchannel.test``) to the endpoint."""
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
            ),
            settings,
        )
        target = _target(settings)
        if result.remote_code is None:
            return [
                ProbeStep("connect", False, f"no answer from {target}: {result.response_excerpt}")
            ]
        steps = [ProbeStep("connect", True, f"{target} answered")]
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

    def _headers(self, message: OutboundMessage, settings: WebhookSettings) -> CIMultiDict[str]:
        timestamp = int(time.time())
        headers = CIMultiDict(
            [
                ("Content-Type", message.content.content_type),
                ("User-Agent", self.context.user_agent),
                ("webhook-id", message.delivery_id),
                ("webhook-timestamp", str(timestamp)),
            ]
        )
        if settings.signing_secrets:
            headers["webhook-signature"] = signature_header(
                settings.signing_secrets, message.delivery_id, timestamp, message.content.body
            )
        if message.traceparent:
            headers["traceparent"] = message.traceparent
            if message.tracestate:
                headers["tracestate"] = message.tracestate
        headers.extend(settings.headers.items())
        headers.extend(settings.auth_headers)
        return headers


def _target(settings: WebhookSettings) -> str:
    """How excerpts name the destination: never by any part of a URL given as a secret."""
    if settings.is_secret("url"):
        return "the endpoint"
    url = settings.endpoint
    return f"{url.host_port_subcomponent or url.host}"


def _facts(
    settings: WebhookSettings, *, status: int | None = None, error: BaseException | None = None
) -> dict[str, str]:
    """The HTTP client span's facts of one POST; none of a URL given as a secret."""
    return http_client_facts(
        "POST",
        settings.endpoint,
        status=status,
        error=error,
        url_is_secret=settings.is_secret("url"),
    )
