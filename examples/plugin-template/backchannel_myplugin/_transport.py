"""The ``myplugin`` transport.

This skeleton is a working transport — it POSTs the rendered content to ``settings.url`` with
``secrets.token`` as a bearer token — so the conformance suite passes from the first run.
Replace each TODO with your protocol and keep the suite green.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from yarl import URL

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
    setting_name_problems,
)
from backchannel.plugin_support.aiohttp import destination_refusal

# TODO: the settings your transport reads. Secrets (passwords, tokens, URLs that carry a
# credential) go in SECRET_SETTINGS and are refused in plain settings.
PLAIN_SETTINGS = frozenset({"url"})
SECRET_SETTINGS = frozenset({"token"})


class MyTransport:
    name = "myplugin"  # TODO: lower-case letters, digits, '-' and '_'
    secret_settings: frozenset[str] = SECRET_SETTINGS

    def __init__(self) -> None:
        self._context = TransportContext()
        self._session: aiohttp.ClientSession | None = None

    def check_settings(
        self, settings: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> Sequence[FieldProblem]:
        """Every problem at once, each named by its field; never quote a secret."""
        problems = setting_name_problems(
            settings,
            secrets,
            plain_names=PLAIN_SETTINGS,
            secret_names=SECRET_SETTINGS,
            unknown="a myplugin setting",  # TODO: your transport's name
        )
        url = settings.get("url")
        if not isinstance(url, str) or URL(url).scheme not in ("http", "https"):
            problems.append(FieldProblem("transport_settings.url", "is required: an http(s) URL"))
        if not isinstance(secrets.get("token"), str) or not secrets["token"]:
            problems.append(FieldProblem("secret_settings.token", "is required"))
        return problems

    async def start(self, context: TransportContext) -> None:
        """Called once before the first send: open what you reuse (sessions, pools)."""
        self._context = context
        # The host's connector refuses loopback, private, link-local and metadata
        # addresses (unless an operator allowlisted them) wherever a connection is made.
        self._session = aiohttp.ClientSession(
            connector=context.http_connector(),
            headers={"user-agent": context.user_agent},
        )

    async def aclose(self) -> None:
        """Called once at shutdown."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """One transmission. Return a result for every outcome; raise only for bugs."""
        problems = self.check_settings(message.settings, message.secrets)
        if problems:
            fields = ", ".join(problem.field for problem in problems)
            return DeliveryResult(succeeded=False, response_excerpt=f"invalid settings: {fields}")
        url = URL(message.settings["url"])
        # TODO: transmit with your protocol. Keep the delivery id (stable across retries)
        # where the remote can see it, so it can drop duplicates.
        headers = {
            "authorization": f"Bearer {message.secrets['token']}",
            "content-type": message.content.content_type,
            "idempotency-key": message.delivery_id,
        }
        return await self._post(url, message.content.body, headers)

    async def probe(
        self, settings: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> Sequence[ProbeStep]:
        """Check the settings for real, step by step, stopping at the first failure."""
        problems = self.check_settings(settings, secrets)
        if problems:
            detail = "; ".join(f"{p.field} {p.description}" for p in problems)
            return [ProbeStep("settings", False, detail)]
        steps = [ProbeStep("settings", True, "the settings are complete")]
        # TODO: the cheapest real check your protocol has (log in, list, a test message).
        url = URL(settings["url"])
        headers = {"authorization": f"Bearer {secrets['token']}"}
        result = await self._post(url, b"", headers, method="HEAD")
        if result.succeeded:
            return [*steps, ProbeStep("connect", True, f"{url.host} answered")]
        return [*steps, ProbeStep("connect", False, result.response_excerpt)]

    async def _post(
        self, url: URL, body: bytes, headers: Mapping[str, str], method: str = "POST"
    ) -> DeliveryResult:
        if self._session is None:
            raise RuntimeError("the transport was not started")
        timeout = aiohttp.ClientTimeout(
            total=self._context.total_timeout, connect=self._context.connect_timeout
        )
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                text = (await response.content.read(4096)).decode("utf-8", errors="replace")
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            refused = destination_refusal(error)
            if refused is not None:
                return DeliveryResult(succeeded=False, response_excerpt=str(refused))
            # Never put the URL or a token in an excerpt.
            return DeliveryResult(
                succeeded=False,
                retryable=True,
                response_excerpt=f"no answer from the endpoint ({type(error).__name__})",
            )
        return DeliveryResult(
            succeeded=200 <= status <= 299,
            retryable=is_retryable_status(status),
            remote_code=status,
            bytes_sent=len(body),
            response_excerpt=text[:EXCERPT_CHARS],
            gone=status == 410,
        )
