"""The public plugin API: the only module a transport or formatter author must import.
(:mod:`backchannel.plugin_support` adds optional helpers every transport needs alike.)

A plugin is an ordinary distribution with an entry point in the ``backchannel`` group whose
module implements one or both registration hooks::

    from backchannel.plugin import hookimpl

    @hookimpl
    def register_transports(register):
        register(MyTransport())

The host calls each hook once at start-up. Everything on the send path is plain async code:
the host owns retries, timeouts, rate limits, logging and tracing; a transport only
transmits and answers with a :class:`DeliveryResult`; a formatter only renders.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol, Required, TypedDict, runtime_checkable

import aiohttp
import pluggy

from backchannel import outbound
from backchannel.outbound import IPAddress, IPNetwork

PROJECT_NAME = "backchannel"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a setting or option, named by its path (e.g. ``url``)."""

    field: str
    description: str


FeedbackKind = Literal[
    "conversion", "return", "quality", "disposition", "attribution", "unspecified"
]


class Outcome(TypedDict, total=False):
    """What became of the lead: ``status`` as the caller words it (``converted``, ``sold``)."""

    status: str
    #: When it converted, RFC 3339 in UTC.
    conversion_date: str
    #: Money stays a Decimal, so no transport or formatter ever rounds it.
    value: Decimal
    #: ISO 4217 code of ``value``.
    currency: str
    product: str


class ReturnDetails(TypedDict, total=False):
    reason_code: str
    reason_text: str
    #: RFC 3339 in UTC.
    return_date: str


class Attribution(TypedDict, total=False):
    campaign: str
    creative: str
    keyword: str
    #: Affiliate sub-ids by name; they often carry click or user ids (personal data).
    sub_ids: dict[str, str]


class Consent(TypedDict, total=False):
    provider: str
    reference: str


#: The canonical document of one feedback record, as the host builds it for every formatter
#: and hands it to transports in ``OutboundMessage.document``. Only what is set is present:
#: an empty value ("", 0 money, no scores...) is left out at every level. Timestamps are
#: RFC 3339 text in UTC.
FeedbackDocument = TypedDict(
    "FeedbackDocument",
    {
        "feedback_id": str,
        "kind": Required[FeedbackKind],
        "lead_id": str,
        "source_id": str,
        "flow_id": str,
        "event_id": str,
        "click_id": str,
        "transaction_id": str,
        #: When the caller says the feedback happened.
        "feedback_date": str,
        #: When Backchannel accepted it; the same on every attempt.
        "accepted_at": str,
        "outcome": Outcome,
        "return": ReturnDetails,
        #: ``overall_score`` and any dimensions by name (``data_quality``...): whole scores
        #: are ints, others floats.
        "quality": dict[str, int | float],
        "attribution": Attribution,
        "consents": list[Consent],
        #: The caller's own attributes: any JSON object.
        "attributes": dict[str, Any],
    },
    total=False,
)


@dataclass(frozen=True)
class RenderedContent:
    """What a formatter makes of one feedback record."""

    body: bytes
    content_type: str
    file_extension: str


@runtime_checkable
class Formatter(Protocol):
    """Turns the canonical feedback document into bytes for a recipient."""

    name: str

    def check_options(self, options: Mapping[str, Any]) -> Sequence[FieldProblem]:
        """Problems with a recipient's format options; empty when they are usable."""
        ...

    def render(self, document: FeedbackDocument, options: Mapping[str, Any]) -> RenderedContent:
        """Renders one feedback document (the canonical JSON shape of a feedback record).
        ``options`` are the recipient's format options, read-only: the same mapping for
        every render of one revision of a recipient, so what is read from them may be kept
        by their identity."""
        ...


@dataclass(frozen=True)
class TransportContext:
    """What the host tells a transport when it starts, and the only way it should open
    connections: :meth:`resolve`, :meth:`connect` and :meth:`http_connector` refuse
    loopback, private, link-local and cloud-metadata destinations (unless an operator
    allowlisted them) and pin the address they checked."""

    #: Networks outbound connections may reach even though they are loopback, private,
    #: link-local or metadata addresses. Empty in production unless an operator adds some.
    allowed_networks: tuple[IPNetwork, ...] = ()
    #: The User-Agent to send where the protocol has one.
    user_agent: str = "Backchannel"
    #: Default connect timeout, seconds, when a recipient sets none.
    connect_timeout: float = 5.0
    #: Default total timeout for one transmission, seconds, when a recipient sets none.
    total_timeout: float = 15.0

    def refusal_reason(self, address: IPAddress | str) -> str | None:
        """Why a connection to ``address`` is refused (``"loopback"``...), or None."""
        return outbound.refusal_reason(address, self.allowed_networks)

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

    def http_connector(self, **options: Any) -> aiohttp.TCPConnector:
        """An aiohttp connector for a ``ClientSession`` whose every connection goes to an
        address that may be reached, names and address literals alike; ``options`` are
        ``aiohttp.TCPConnector``'s (``limit``...). A refusal surfaces as an
        ``aiohttp.ClientConnectorError`` whose ``os_error`` is ``DestinationRefused``."""
        return outbound.http_connector(self.allowed_networks, **options)


@dataclass(frozen=True)
class OutboundMessage:
    """One transmission a transport is asked to make."""

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
    #: The recipient's transport settings (not secret). Read-only: every message to one
    #: revision of a recipient carries the same mapping objects, so a transport may keep
    #: what it parsed from them keyed by their identity (holding on to the mappings).
    settings: Mapping[str, Any]
    #: The recipient's secret settings. Never log, echo or return them. Read-only, the
    #: same objects for one revision of a recipient, like ``settings``.
    secrets: Mapping[str, Any]
    #: W3C trace context of the attempt, to propagate where the protocol allows.
    traceparent: str | None = None


@dataclass(frozen=True)
class DeliveryResult:
    """How a transmission ended. Transports return failures; they do not raise them."""

    succeeded: bool
    #: For a failure: whether trying again later may succeed (network errors, timeouts,
    #: 5xx, 408, 429) or not (other 4xx, auth refused).
    retryable: bool = False
    #: The remote's status code (HTTP status, SMTP reply...), when it answered.
    remote_code: int | None = None
    #: An id the remote gave the transmission, when it gave one.
    remote_id: str | None = None
    #: Seconds the remote asked us to wait before trying again (Retry-After).
    retry_after: float | None = None
    #: Bytes put on the wire for the content.
    bytes_sent: int = 0
    #: A short, secret-free excerpt of the answer, or what went wrong when none came.
    response_excerpt: str = ""
    #: The remote says the endpoint no longer exists (HTTP 410): stop sending to it.
    gone: bool = False
    #: Extra, secret-free facts worth recording.
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeStep:
    """One check a transport made against a recipient's real endpoint, in words an
    operator understands (``connect``: "connected to sftp.example.com:22"). Secret-free."""

    name: str
    passed: bool
    detail: str


@runtime_checkable
class Transport(Protocol):
    """Delivers rendered feedback to a recipient."""

    name: str
    #: Setting names that are secret: accepted only in ``secret_settings``.
    secret_settings: frozenset[str]

    def check_settings(
        self, settings: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> Sequence[FieldProblem]:
        """Problems with a recipient's settings; empty when they are usable."""
        ...

    async def start(self, context: TransportContext) -> None:
        """Called once in the running event loop before the first send."""
        ...

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Makes one transmission. Returns a result for every outcome a remote can cause."""
        ...

    async def probe(
        self, settings: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> Sequence[ProbeStep]:
        """Checks the settings for real before a recipient goes live (log in, write and
        remove a file, send a test message...). Stops at the first failed step."""
        ...

    async def aclose(self) -> None:
        """Releases connections; called once at shutdown."""
        ...


RegisterTransport = Callable[[Transport], None]
RegisterFormatter = Callable[[Formatter], None]


class HookSpecs:
    """The hooks a plugin may implement."""

    @hookspec
    def register_transports(self, register: RegisterTransport) -> None:
        """Call ``register(transport)`` for each transport the plugin provides."""

    @hookspec
    def register_formatters(self, register: RegisterFormatter) -> None:
        """Call ``register(formatter)`` for each formatter the plugin provides."""


__all__ = [
    "Attribution",
    "Consent",
    "DeliveryResult",
    "FeedbackDocument",
    "FeedbackKind",
    "FieldProblem",
    "Formatter",
    "IPNetwork",
    "OutboundMessage",
    "Outcome",
    "ProbeStep",
    "RegisterFormatter",
    "RegisterTransport",
    "RenderedContent",
    "ReturnDetails",
    "Transport",
    "TransportContext",
    "hookimpl",
    "hookspec",
]
