"""Helpers for transports that send over HTTP with aiohttp: reading a bounded answer, what to
say when a request got no answer, and the pieces of the address guard.

The guard itself comes from the host: ``TransportContext.http_connector()`` is an aiohttp
connector whose every connection goes to an admitted address (names through
:class:`GuardedResolver`, addresses checked again where each socket is made). A transport
that builds its session on it needs nothing else; :func:`refuse_address_literal` checks a
URL before a request, for a transport that wants to refuse it without trying.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from yarl import URL

from backchannel.outbound import (
    AllowedDestination,
    DestinationRefused,
    GuardedResolver,
    IPNetwork,
    address_literal,
    looks_like_address_literal,
    refusal_reason,
)

__all__ = [
    "GuardedResolver",
    "Unanswered",
    "describe_unanswered",
    "destination_refusal",
    "read_bounded",
    "refuse_address_literal",
]


def refuse_address_literal(
    url: URL, allowed_networks: Sequence[AllowedDestination | IPNetwork]
) -> None:
    """Raises :class:`~backchannel.plugin_support.DestinationRefused` for a URL whose host is
    an address (in any spelling) that may not be reached, or that is spelled like an address
    but is not one (reason ``"unrecognisable"``). aiohttp connects to such hosts without
    resolving them, so :class:`GuardedResolver` never sees them; names pass."""
    host = url.host or ""
    address = address_literal(host)
    if address is None:
        if looks_like_address_literal(url.raw_host or host):
            raise DestinationRefused("unrecognisable", host)
        return
    reason = refusal_reason(address, allowed_networks, url.port)
    if reason is not None:
        raise DestinationRefused(reason, str(address))


def destination_refusal(error: BaseException) -> DestinationRefused | None:
    """The :class:`~backchannel.plugin_support.DestinationRefused` behind ``error`` (raised
    as it is, or wrapped by aiohttp in a ``ClientConnectorError``), or None."""
    if isinstance(error, DestinationRefused):
        return error
    if isinstance(error, aiohttp.ClientConnectorError) and isinstance(
        error.os_error, DestinationRefused
    ):
        return error.os_error
    return None


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, str | None]:
    """Up to ``limit`` bytes of the response body, and a note for the result's details when
    that is not all of it (cut short, or the connection failed while reading); the rest is
    left unread."""
    chunks: list[bytes] = []
    size = 0
    try:
        while size < limit:
            chunk = await response.content.read(limit - size)
            if not chunk:
                return b"".join(chunks), None
            chunks.append(chunk)
            size += len(chunk)
    except (aiohttp.ClientError, TimeoutError) as error:
        return b"".join(chunks), f"incomplete: {type(error).__name__} while reading"
    if response.content.at_eof():
        return b"".join(chunks), None
    return b"".join(chunks), f"truncated: only the first {limit} bytes were read"


@dataclass(frozen=True)
class Unanswered:
    """What went wrong with a request that got no answer."""

    #: Whether the request may have reached the remote (so its body counts as sent).
    may_have_reached: bool
    #: Secret-free words for the excerpt; they name the destination only as ``target``.
    description: str
    retryable: bool


#: What went wrong when no answer came, most specific error first: the error class, whether
#: the request may have reached the remote, the excerpt, and whether to retry. No template
#: uses the error's own message: aiohttp's messages name the URL or the address.
_NO_ANSWER: tuple[tuple[type[BaseException], bool, str, bool], ...] = (
    (aiohttp.InvalidURL, False, "invalid URL for {target}", False),
    (aiohttp.ClientConnectorCertificateError, False, "TLS certificate of {target} failed", True),
    (aiohttp.ClientSSLError, False, "TLS handshake with {target} failed", True),
    (aiohttp.ClientConnectorDNSError, False, "DNS lookup for {target} failed", True),
    (aiohttp.ClientConnectorError, False, "cannot connect to {target}: {reason}", True),
    (aiohttp.ConnectionTimeoutError, False, "timed out connecting to {target} ({connect})", True),
    (TimeoutError, True, "timed out waiting for {target} to answer ({total})", True),
    (aiohttp.ServerDisconnectedError, True, "{target} closed the connection unanswered", True),
    (aiohttp.ClientPayloadError, True, "{target} sent a malformed HTTP response", True),
    (aiohttp.ClientResponseError, True, "{target} sent a malformed HTTP response", True),
    (aiohttp.ClientOSError, True, "connection to {target} failed: {reason}", True),
    (BaseException, True, "request to {target} failed ({error})", True),
)


def describe_unanswered(
    error: BaseException, *, target: str, connect_timeout: float, timeout: float
) -> Unanswered:
    """Describes an aiohttp request that raised ``error`` instead of answering, naming the
    destination as ``target`` (``"example.com:443"``, or ``"the endpoint"`` when the URL is a
    secret) and the timeouts (seconds) that applied. OS errors are reduced to their errno
    text, so no address aiohttp or asyncio put in a message reaches the excerpt."""
    may_have_reached, template, retryable = next(
        (reached, template, retryable)
        for kind, reached, template, retryable in _NO_ANSWER
        if isinstance(error, kind)
    )
    description = template.format(
        target=target,
        reason=_os_reason(error),
        connect=f"after {connect_timeout:g} s",
        total=f"after {timeout:g} s",
        error=type(error).__name__,
    )
    return Unanswered(may_have_reached, description, retryable)


def _os_reason(error: BaseException) -> str:
    # Only the error number's text: asyncio's own messages name the address it tried.
    if isinstance(error, aiohttp.ClientConnectorError):
        error = error.os_error
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno).lower()
    return type(error).__name__
