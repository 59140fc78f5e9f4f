"""The ``teams`` transport: one Adaptive Card per attempt, posted to a Workflows URL."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import aiohttp

from backchannel.plugin import (
    DeliveryResult,
    FeedbackDocument,
    FieldProblem,
    OutboundMessage,
    ProbeStep,
    TransportContext,
)
from backchannel.plugin_support import EXCERPT_CHARS, DestinationRefused, SettingsMemo, excerpt
from backchannel.plugin_support.aiohttp import read_bounded

from ._card import feedback_message, probe_message
from ._outcome import TARGET, error_result, response_result
from ._rate_limit import RequestSpacing
from ._settings import SECRET_SETTINGS, Workflow, read_workflow

#: At most this much of a response body is read; the rest is left unread.
RESPONSE_READ_LIMIT = 64 * 1024
#: Distinct ``ca_certificate`` values whose TLS contexts are kept.
_MAX_TLS_CONTEXTS = 64


class TeamsTransport:
    """Posts a card summarising each feedback to a Power Automate Workflows URL."""

    name = "teams"
    secret_settings: frozenset[str] = SECRET_SETTINGS

    def __init__(self, *, max_connections: int = 100) -> None:
        self._max_connections = max_connections
        self._context = TransportContext()
        self._session: aiohttp.ClientSession | None = None
        self._read_settings = SettingsMemo(read_workflow)
        self._spacing = RequestSpacing()
        self._tls_contexts: dict[bytes, ssl.SSLContext] = {}

    def check_settings(
        self, settings: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> Sequence[FieldProblem]:
        return read_workflow(settings, secrets)[1]

    async def start(self, context: TransportContext) -> None:
        if self._session is not None:
            raise RuntimeError("the teams transport is already started")
        self._context = context
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

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Posts a card built from ``message.document``; the rendered content is not used."""
        workflow, problems = self._read_settings(message.settings, message.secrets)
        if workflow is None:
            return _invalid_settings(problems)
        # A document without its ids (from a test double, say) still names the feedback.
        kind = message.event_type.removeprefix("feedback.")
        named = {"feedback_id": message.feedback_id, "kind": kind}
        document = cast(FeedbackDocument, {**named, **message.document})
        card = feedback_message(
            document,
            title=workflow.title,
            include_personal_data=workflow.include_personal_data,
        )
        details: dict[str, str] = {}
        if card.trimmed:
            details["card_trimmed_items"] = str(card.trimmed)
        if card.omitted:
            details["personal_data_omitted"] = ", ".join(card.omitted)
        return await self._post(workflow, card.body, details)

    async def probe(
        self, settings: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> Sequence[ProbeStep]:
        """Posts a small test card that carries no feedback."""
        workflow, problems = read_workflow(settings, secrets)
        if workflow is None:
            return [ProbeStep("settings", False, _invalid_settings(problems).response_excerpt)]
        result = await self._post(workflow, probe_message(workflow.title), {})
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
        self, workflow: Workflow, body: bytes, details: Mapping[str, str]
    ) -> DeliveryResult:
        session = self._session
        if session is None:
            raise RuntimeError("the teams transport is not started")
        connect_timeout = workflow.connect_timeout or self._context.connect_timeout
        timeout = workflow.timeout or self._context.total_timeout
        rate = workflow.max_requests_per_second
        taken, wait = self._spacing.reserve(str(workflow.url), rate, max_wait=timeout / 2)
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
        try:
            async with session.post(
                workflow.url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": self._context.user_agent,
                },
                allow_redirects=False,
                ssl=self._tls_context(workflow.ca_certificate),
                timeout=aiohttp.ClientTimeout(total=timeout - wait, sock_connect=connect_timeout),
            ) as response:
                raw, body_note = await read_bounded(response, RESPONSE_READ_LIMIT)
                return response_result(
                    status=response.status,
                    headers=response.headers,
                    body_excerpt=excerpt(raw, response.charset, workflow.secret_values),
                    body_note=body_note,
                    bytes_sent=len(body),
                    secrets=workflow.secret_values,
                    now=time.time(),
                    details=details,
                )
        except (aiohttp.ClientError, TimeoutError, DestinationRefused) as error:
            return error_result(
                error,
                body_length=len(body),
                connect_timeout=connect_timeout,
                timeout=timeout,
                details=details,
            )

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


def _invalid_settings(problems: Sequence[FieldProblem]) -> DeliveryResult:
    listed = "; ".join(f"{p.field} {p.description}" for p in problems)
    return DeliveryResult(
        succeeded=False, response_excerpt=f"invalid settings: {listed}"[:EXCERPT_CHARS]
    )
