"""The ``teams`` transport: one Adaptive Card per attempt, posted to a Workflows URL."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import Mapping
from typing import cast

import aiohttp

from backchannel.plugin import (
    DeliveryResult,
    FeedbackDocument,
    OutboundMessage,
    ProbeStep,
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

from ._card import feedback_message, probe_message
from ._outcome import TARGET, error_result, response_result
from ._rate_limit import RequestSpacing
from ._settings import TeamsSettings

#: At most this much of a response body is read; the rest is left unread.
RESPONSE_READ_LIMIT = 64 * 1024
#: Distinct ``ca_certificate`` values whose TLS contexts are kept.
_MAX_TLS_CONTEXTS = 64


class TeamsTransport(Transport[TeamsSettings]):
    """Posts a card summarising each feedback to a Power Automate Workflows URL."""

    name = "teams"
    settings_model = TeamsSettings

    def __init__(self, *, max_connections: int = 100) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._spacing = RequestSpacing()
        self._tls_contexts: dict[bytes, ssl.SSLContext] = {}

    async def start(self, context: TransportContext) -> None:
        if self._session is not None:
            raise RuntimeError("the teams transport is already started")
        await super().start(context)
        # The host's connector refuses destinations it does not allow, at every connect.
        self._session = aiohttp.ClientSession(
            connector=context.http_connector(limit=self._max_connections),
            cookie_jar=aiohttp.DummyCookieJar(),
            # Uncompressed answers keep the bounded read of a response body bounded.
            skip_auto_headers=("Accept-Encoding",),
            trust_env=False,
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, message: OutboundMessage, settings: TeamsSettings) -> DeliveryResult:
        """Posts a card built from ``message.document``; the rendered content is not used."""
        # A document without its ids (from a test double, say) still names the feedback.
        kind = message.event_type.removeprefix("feedback.")
        named = {"feedback_id": message.feedback_id, "kind": kind}
        document = cast(FeedbackDocument, {**named, **message.document})
        card = feedback_message(
            document,
            title=settings.title,
            include_personal_data=settings.include_personal_data,
        )
        details: dict[str, str] = {}
        if card.trimmed:
            details["card_trimmed_items"] = str(card.trimmed)
        if card.omitted:
            details["personal_data_omitted"] = ", ".join(card.omitted)
        trace_headers = {"traceparent": message.traceparent} if message.traceparent else {}
        if message.traceparent and message.tracestate:
            trace_headers["tracestate"] = message.tracestate
        return await self._post(settings, card.body, details, trace_headers)

    async def probe(self, settings: TeamsSettings) -> list[ProbeStep]:
        """Posts a small test card that carries no feedback."""
        result = await self._post(settings, probe_message(settings.title), {})
        if result.remote_code is None:
            return [ProbeStep("connect", False, f"no answer: {result.response_excerpt}")]
        steps = [ProbeStep("connect", True, f"{TARGET} answered over HTTPS")]
        if result.succeeded:
            accepted = f"accepted with HTTP {result.remote_code}"
            if result.remote_code == 202:
                accepted += " (the workflow posts it to the channel on its own)"
            steps.append(ProbeStep("test card", True, accepted))
        else:
            steps.append(
                ProbeStep(
                    "test card",
                    False,
                    f"refused with HTTP {result.remote_code}: {result.response_excerpt}",
                )
            )
        return steps

    async def _post(
        self,
        settings: TeamsSettings,
        body: bytes,
        details: Mapping[str, str],
        trace_headers: Mapping[str, str] | None = None,
    ) -> DeliveryResult:
        session = self._session
        if session is None:
            raise RuntimeError("the teams transport is not started")
        connect_timeout = settings.connect_timeout_seconds or self.context.connect_timeout
        timeout = settings.timeout_seconds or self.context.total_timeout
        rate = settings.max_requests_per_second
        taken, wait = self._spacing.reserve(str(settings.url), rate, max_wait=timeout / 2)
        if not taken:
            return DeliveryResult(
                succeeded=False,
                retryable=True,
                retry_after=wait,
                response_excerpt=(
                    f"not sent: more than {rate:g} posts a second are waiting for {TARGET}"
                ),
                details=details,
            )
        await asyncio.sleep(wait)
        # The card as posted: the event describes it, not the formatter's content.
        sent = SentBytes(body)
        try:
            async with session.post(
                settings.url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": self.context.user_agent,
                    **(trace_headers or {}),
                },
                allow_redirects=False,
                ssl=self._tls_context(settings.ca_certificate),
                timeout=aiohttp.ClientTimeout(total=timeout - wait, sock_connect=connect_timeout),
            ) as response:
                raw, body_note = await read_bounded(response, RESPONSE_READ_LIMIT)
                answered = response_result(
                    status=response.status,
                    headers=response.headers,
                    body_excerpt=excerpt(raw, response.charset, ()),
                    body_note=body_note,
                    sent=sent,
                    now=time.time(),
                    details=details,
                )
                # A Workflows URL carries its credential: no part of it is described.
                facts = http_client_facts(
                    "POST", settings.url, status=response.status, url_is_secret=True
                )
                return with_facts(answered, facts)
        except (aiohttp.ClientError, TimeoutError, DestinationRefused) as error:
            unanswered = error_result(
                error,
                sent=sent,
                connect_timeout=connect_timeout,
                timeout=timeout,
                details=details,
            )
            facts = http_client_facts("POST", settings.url, error=error, url_is_secret=True)
            return with_facts(unanswered, facts)

    def _tls_context(self, ca_certificate: str | None) -> ssl.SSLContext | bool:
        """The system's trust store, plus the recipient's own CA certificates if it has some.

        Verification is never turned off: ``True`` is aiohttp's verifying default.
        """
        if ca_certificate is None:
            return True
        key = hashlib.sha256(ca_certificate.encode()).digest()
        context = self._tls_contexts.get(key)
        if context is None:
            context = ssl.create_default_context()
            context.load_verify_locations(cadata=ca_certificate)
            if len(self._tls_contexts) >= _MAX_TLS_CONTEXTS:
                self._tls_contexts.clear()
            self._tls_contexts[key] = context
        return context
