"""The ``myplugin`` transport.

This skeleton is a working transport — it POSTs the rendered content to ``settings.url`` with
the secret ``token`` as a bearer token — so the conformance suite passes from the first run.
Replace each TODO with your protocol and keep the suite green.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Self

import aiohttp
from pydantic import Field, model_validator
from yarl import URL

from backchannel.plugin import (
    DeliveryResult,
    Destination,
    OutboundMessage,
    ProbeStep,
    Secret,
    SettingError,
    Transport,
    TransportContext,
    TransportSettings,
)
from backchannel.plugin_support import (
    EXCERPT_CHARS,
    ConnectTimeoutSeconds,
    SentBytes,
    is_retryable_status,
    web_url,
)
from backchannel.plugin_support.aiohttp import destination_refusal


class MySettings(TransportSettings):
    """TODO: every setting your transport takes, with its type, default and limits. The host
    checks a recipient's settings against this model (unknown names, wrong types, values
    out of bounds are refused, every problem at once) and passes the parsed result to
    ``send`` and ``probe``. Mark secrets (passwords, tokens, URLs that carry a credential)
    with ``Secret()``: they are refused in plain settings and masked in every answer. Mark
    where the transport sends (a URL, a host, a port, an account, a pinned key or CA) with
    ``Destination()``: an update that changes one must give the secrets again."""

    url: Annotated[URL, web_url("http", "https"), Destination()] = Field(
        description="where to post"
    )
    token: Annotated[str, Secret(), Field(min_length=1)]
    connect_timeout_seconds: ConnectTimeoutSeconds | None = None

    @model_validator(mode="after")
    def _no_token_in_plain_text(self) -> Self:
        # A credential never crosses a network unencrypted: http:// only to this machine
        # or an address the operator allowlists.
        if self.url.scheme == "http" and not self.plaintext_credentials_allowed(
            self.url.host or ""
        ):
            raise SettingError("url", "is http://, so the token would go in plain text")
        return self


class MyTransport(Transport[MySettings]):
    name = "myplugin"  # TODO: lower-case letters, digits, '-' and '_'
    settings_model = MySettings

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def start(self, context: TransportContext) -> None:
        """Called once before the first send: open what you reuse (sessions, pools)."""
        await super().start(context)
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

    async def send(self, message: OutboundMessage, settings: MySettings) -> DeliveryResult:
        """One transmission. Return a result for every outcome; raise only for bugs."""
        # TODO: transmit with your protocol. Keep the delivery id (stable across retries)
        # where the remote can see it, so it can drop duplicates.
        headers = {
            "authorization": f"Bearer {settings.token}",
            "content-type": message.content.content_type,
            "idempotency-key": message.delivery_id,
        }
        return await self._post(settings, message.content.body, headers)

    async def probe(self, settings: MySettings) -> list[ProbeStep]:
        """Check the settings for real, step by step, stopping at the first failure (the
        host has checked them already, and adds a ``settings`` step of its own)."""
        # TODO: the cheapest real check your protocol has (log in, list, a test message).
        headers = {"authorization": f"Bearer {settings.token}"}
        result = await self._post(settings, b"", headers, method="HEAD")
        if result.succeeded:
            return [ProbeStep("connect", True, f"{settings.url.host} answered")]
        return [ProbeStep("connect", False, result.response_excerpt)]

    async def _post(
        self, settings: MySettings, body: bytes, headers: Mapping[str, str], method: str = "POST"
    ) -> DeliveryResult:
        if self._session is None:
            raise RuntimeError("the transport was not started")
        timeout = aiohttp.ClientTimeout(
            total=self.context.total_timeout,
            connect=settings.connect_timeout_seconds or self.context.connect_timeout,
        )
        try:
            async with self._session.request(
                method,
                settings.url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                text = (await response.content.read(4096)).decode("utf-8", errors="replace")
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            refused = destination_refusal(error)
            if refused is not None:
                return DeliveryResult(succeeded=False, response_excerpt=str(refused))
            # Name what failed, never the URL: the host masks secrets, but says only what
            # it knows to be one.
            return DeliveryResult(
                succeeded=False,
                retryable=True,
                response_excerpt=f"no answer from the endpoint ({type(error).__name__})",
            )
        # TODO: count the bytes exactly as they go on the wire (after compression,
        # encoding or wrapping): the attempt's event records their size and SHA-256.
        return SentBytes(body).reported(
            DeliveryResult(
                succeeded=200 <= status <= 299,
                retryable=is_retryable_status(status),
                remote_code=status,
                response_excerpt=text[:EXCERPT_CHARS],
                gone=status == 410,
            )
        )
