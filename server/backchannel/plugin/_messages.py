"""What the host and a plugin hand each other: the context a transport starts with, the
message it sends, the result it returns, the steps of a probe, a problem with a setting,
and a formatter's rendered content."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from backchannel import outbound
from backchannel.outbound import AllowedDestination, IPAddress, IPNetwork

from ._document import FeedbackDocument


class ContentRefused(Exception):
    """A formatter cannot make a message its destination would accept from this document
    (a platform's own rules: no match key, a conversion time in the future...). The host
    ends the delivery failed, not retried, with the message as the reason; the message
    names what is wrong, never quoting a value it was given."""


class TemplateFailed(Exception):
    """A template did not render: it does not compile, uses a name the document lacks,
    fails on a value, takes longer than the host's budget or writes more than its cap.
    The message says which, never quoting a value it was given."""


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a setting or option, named by its path in the recipient
    (``transport_settings.url``, ``secret_settings.signing_secrets[1]``)."""

    field: str
    description: str


@dataclass(frozen=True)
class RenderedContent:
    """What a formatter makes of one feedback record."""

    body: bytes
    content_type: str
    file_extension: str


@dataclass(frozen=True)
class TransportContext:
    """What the host tells a transport when it starts, and the way it opens connections:
    :meth:`resolve`, :meth:`connect` and :meth:`http_connector` refuse loopback, private,
    link-local and cloud-metadata destinations (unless an operator allowlisted them) and
    pin the address they checked."""

    #: Destinations outbound connections may reach even though they are loopback,
    #: private or link-local: networks (every port), or ``AllowedDestination`` entries
    #: (a range and optionally one port). A cloud metadata address needs an entry for
    #: exactly it. Empty in production unless an operator adds some.
    allowed_networks: tuple[AllowedDestination | IPNetwork, ...] = ()
    #: The User-Agent to send where the protocol has one.
    user_agent: str = "Backchannel"
    #: Default connect timeout, seconds, when a recipient sets none.
    connect_timeout: float = 5.0
    #: Default total timeout for one transmission, seconds, when a recipient sets none.
    total_timeout: float = 15.0
    #: The operator's settings for this transport, for the whole server rather than one
    #: recipient (an allowed root folder, a proxy...): ``BACKCHANNEL_PLUGIN_<NAME>__<KEY>``
    #: environment variables and the config file's ``[plugin.<name>]`` table, keys in
    #: lower case, values as text. Read and check them in :meth:`Transport.start`.
    plugin_settings: Mapping[str, str] = field(default_factory=dict)

    def refusal_reason(self, address: IPAddress | str, port: int | None = None) -> str | None:
        """Why a connection to ``address`` (on ``port``, when known) is refused
        (``"loopback"``...), or None. An allowlist entry with a port admits no unknown
        port."""
        return outbound.refusal_reason(address, self.allowed_networks, port)

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` that may be reached: connect to one of these, not to
        the name. Raises ``DestinationRefused`` when there is none, ``OSError`` when the
        name does not resolve."""
        return await outbound.admitted_addresses(host, port, self.allowed_networks)

    async def connect(self, host: str, port: int) -> socket.socket:
        """A connected, non-blocking TCP socket to an address of ``host`` that may be
        reached (bound its time yourself). Raises as :meth:`resolve` does, or the
        ``OSError`` of the last address tried."""
        return await outbound.connect(host, port, self.allowed_networks)

    async def render_template(
        self, source: str, namespace: Mapping[str, Any], *, autoescape: bool = False
    ) -> str:
        """``source``, a Jinja2 template a recipient gave, rendered against ``namespace``
        off the event loop: in the host's sandbox (``StrictUndefined``; ``None`` prints as
        nothing) in a worker process, within the host's time budget and output cap.
        ``namespace`` must be picklable (plain data). Raises :class:`TemplateFailed`."""
        from backchannel import template_pool, template_worker

        pool = template_pool.shared()
        return await pool.run(
            template_worker.render_template,
            source,
            dict(namespace),
            autoescape,
            pool.budget.max_output_bytes,
        )

    def http_connector(self, **options: Any) -> aiohttp.TCPConnector:
        """An aiohttp connector for a ``ClientSession`` whose every connection goes to an
        address that may be reached, names and address literals alike; ``options`` are
        ``aiohttp.TCPConnector``'s (``limit``...). A refusal surfaces as an
        ``aiohttp.ClientConnectorError`` whose ``os_error`` is ``DestinationRefused``."""
        return outbound.http_connector(self.allowed_networks, **options)


@dataclass(frozen=True)
class OutboundMessage:
    """One transmission a transport is asked to make. The recipient's settings come with
    it, already read, as the second argument of ``Transport.send``."""

    #: Stable across every attempt of the same delivery: the recipient's idempotency key.
    delivery_id: str
    feedback_id: str
    recipient_id: str
    #: The attempt number, from 1.
    attempt: int
    #: A dotted event name, e.g. ``feedback.conversion``.
    event_type: str
    content: RenderedContent
    #: The canonical feedback document the content was rendered from, for file names,
    #: subjects and summaries.
    document: FeedbackDocument
    #: W3C trace context of the attempt, to propagate where the protocol allows.
    traceparent: str | None = None
    #: The W3C ``tracestate`` of the request that accepted the feedback (vendors' entries
    #: of the caller's trace), to send beside ``traceparent``; None when it had none.
    tracestate: str | None = None


@dataclass(frozen=True)
class DeliveryResult:
    """How a transmission ended. Transports return failures; they do not raise them.

    The host masks every secret of the recipient in it, removes control characters and
    cuts each text to its length before anything is recorded; a transport may mask what it
    knows besides."""

    succeeded: bool
    #: For a failure: whether trying again later may succeed (network errors, timeouts,
    #: 5xx, 408, 429) or not (other 4xx, auth refused).
    retryable: bool = False
    #: The remote's status code (HTTP status, SMTP reply...), when it answered.
    remote_code: int | None = None
    #: An id the remote gave the transmission, when it gave one (at most 256 characters).
    remote_id: str | None = None
    #: Seconds the remote asked us to wait before trying again (Retry-After).
    retry_after: float | None = None
    #: Bytes put on the wire for the content: the HTTP request body, the file as written
    #: (after compression), the message given to the SMTP server... Not protocol framing
    #: (headers, envelopes). 0 when nothing may have reached the remote.
    bytes_sent: int = 0
    #: A short excerpt of the answer (at most 256 characters), or what went wrong when
    #: none came.
    response_excerpt: str = ""
    #: The remote says the endpoint no longer exists (HTTP 410): stop sending to it.
    gone: bool = False
    #: Extra facts worth recording (trimmed items, refused recipients, the step that
    #: failed...): the event of the attempt shows them, all but the client span's facts
    #: (``backchannel.plugin_support.SPAN_FACTS``), which go on the span instead.
    details: Mapping[str, str] = field(default_factory=dict)
    #: SHA-256 (lower-case hex) of the ``bytes_sent`` bytes. With it the event describes
    #: the bytes transmitted; without it (and without ``bytes_sent``) the event says only
    #: what the formatter produced. ``backchannel.plugin_support.SentBytes`` counts and
    #: hashes both as a transport writes.
    sha256_sent: str | None = None


@dataclass(frozen=True)
class ProbeStep:
    """One check a transport made against a recipient's real endpoint, in words an
    operator understands (``connect``: "connected to sftp.example.com:22"). The host masks
    secrets in it like in a :class:`DeliveryResult`."""

    name: str
    passed: bool
    detail: str
