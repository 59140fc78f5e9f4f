"""How one webhook attempt ended, as a :class:`DeliveryResult` with no secret in it."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime

import aiohttp

from backchannel.plugin import DeliveryResult

from ._address_guard import DestinationRefused

EXCERPT_CHARS = 256
MASK = "***"
#: Response headers that carry the receiver's id for a request, in order of preference.
REMOTE_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-correlation-id")
MAX_REMOTE_ID_CHARS = 256
#: Retry-After values beyond this many seconds (about 31 years) are read as this many.
_MAX_RETRY_AFTER = 1e9

_DELTA_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")
_NUL = "\x00"


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret in it replaced by ``***`` (secrets given longest first)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def excerpt(body: bytes, charset: str | None, secrets: Sequence[str]) -> str:
    """The first characters of a response body, decoded leniently and masked."""
    try:
        text = body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    # Postgres text cannot hold NUL characters.
    return mask(text, secrets).replace(_NUL, "\ufffd")[:EXCERPT_CHARS]


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from ``now`` (unix seconds), from delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return min(float(value), _MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    seconds = when.timestamp() - now
    return min(max(0.0, seconds), _MAX_RETRY_AFTER) if math.isfinite(seconds) else None


def is_retryable_status(status: int) -> bool:
    return status in (408, 429) or 500 <= status <= 599


def response_result(
    *,
    status: int,
    headers: Mapping[str, str],
    body_excerpt: str,
    body_note: str | None,
    bytes_sent: int,
    secrets: Sequence[str],
    now: float,
) -> DeliveryResult:
    """The result of an attempt the receiver answered with ``status``."""
    details: dict[str, str] = {}
    if body_note:
        details["response_body"] = body_note
    remote_id = _remote_id(headers, secrets)
    if 200 <= status <= 299:
        return DeliveryResult(
            succeeded=True,
            remote_code=status,
            remote_id=remote_id,
            bytes_sent=bytes_sent,
            response_excerpt=body_excerpt,
            details=details,
        )
    if 300 <= status <= 399:
        details["redirect"] = "not followed: webhook redirects are refused"
    return DeliveryResult(
        succeeded=False,
        retryable=is_retryable_status(status),
        remote_code=status,
        remote_id=remote_id,
        retry_after=parse_retry_after(headers.get("retry-after"), now),
        bytes_sent=bytes_sent,
        response_excerpt=body_excerpt,
        gone=status == 410,
        details=details,
    )


def _remote_id(headers: Mapping[str, str], secrets: Sequence[str]) -> str | None:
    for name in REMOTE_ID_HEADERS:
        value = headers.get(name)
        if value:
            return mask(value, secrets).replace(_NUL, "\ufffd")[:MAX_REMOTE_ID_CHARS]
    return None


def error_result(
    error: BaseException,
    *,
    target: str,
    show_address: bool,
    body_length: int,
    connect_timeout: float,
    timeout: float,
    secrets: Sequence[str],
) -> DeliveryResult:
    """The result of an attempt that got no answer. ``target`` names the destination in
    excerpts: its host and port, or only "the endpoint" when the URL is a secret."""
    refused = _refusal(error)
    if refused is not None:
        details = {"refused_address": refused.address} if show_address else {}
        return DeliveryResult(
            succeeded=False, retryable=False, response_excerpt=str(refused), details=details
        )
    reached, description, retryable = _describe(error, target, connect_timeout, timeout)
    return DeliveryResult(
        succeeded=False,
        retryable=retryable,
        bytes_sent=body_length if reached else 0,
        response_excerpt=mask(description, secrets)[:EXCERPT_CHARS],
        details={"error": type(error).__name__},
    )


def _refusal(error: BaseException) -> DestinationRefused | None:
    if isinstance(error, DestinationRefused):
        return error
    if isinstance(error, aiohttp.ClientConnectorError) and isinstance(
        error.os_error, DestinationRefused
    ):
        return error.os_error
    return None


#: What went wrong when no answer came, most specific error first: the error class, whether
#: the request may have reached the receiver, the excerpt, and whether to retry.
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


def _describe(
    error: BaseException, target: str, connect_timeout: float, timeout: float
) -> tuple[bool, str, bool]:
    """Whether the request may have reached the receiver, what went wrong, and whether to retry."""
    reached, template, retryable = next(
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
    return reached, description, retryable


def _os_reason(error: BaseException) -> str:
    # Only the error number's text: asyncio's own messages name the address it tried.
    if isinstance(error, aiohttp.ClientConnectorError):
        error = error.os_error
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno).lower()
    return type(error).__name__
