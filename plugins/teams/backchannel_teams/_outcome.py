"""How one post to a Workflows URL ended, as a :class:`DeliveryResult` with no secret in it.

The URL is a credential (``sig=``), so nothing here names it: excerpts call it "the Workflows
endpoint", OS errors are reduced to their errno text, and whatever the remote echoes back is
masked with every spelling of the URL and its parts.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime

import aiohttp

from backchannel.plugin import DeliveryResult

from ._address_guard import DestinationRefused

TARGET = "the Workflows endpoint"
EXCERPT_CHARS = 256
MASK = "***"
#: Response headers that carry the remote's id for a request, in order of preference.
REMOTE_ID_HEADERS = (
    "x-ms-workflow-run-id",
    "x-ms-request-id",
    "x-ms-correlation-id",
    "x-request-id",
)
MAX_REMOTE_ID_CHARS = 256
#: Statuses that mean the workflow is not there (deleted, turned off, URL regenerated).
GONE_STATUSES = frozenset({404, 410})
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


def response_result(
    *,
    status: int,
    headers: Mapping[str, str],
    body_excerpt: str,
    body_note: str | None,
    bytes_sent: int,
    secrets: Sequence[str],
    now: float,
    details: Mapping[str, str],
) -> DeliveryResult:
    """The result of a post the remote answered with ``status``."""
    facts = dict(details)
    if body_note:
        facts["response_body"] = body_note
    remote_id = _remote_id(headers, secrets)
    if 200 <= status <= 299:
        if status == 202:
            facts["workflow"] = "accepted: the workflow posts the card to Teams on its own"
        return DeliveryResult(
            succeeded=True,
            remote_code=status,
            remote_id=remote_id,
            bytes_sent=bytes_sent,
            response_excerpt=body_excerpt,
            details=facts,
        )
    if 300 <= status <= 399:
        facts["redirect"] = "not followed: a Workflows URL does not redirect"
    return DeliveryResult(
        succeeded=False,
        retryable=status in (408, 429) or 500 <= status <= 599,
        remote_code=status,
        remote_id=remote_id,
        retry_after=parse_retry_after(headers.get("retry-after"), now),
        bytes_sent=bytes_sent,
        response_excerpt=body_excerpt,
        gone=status in GONE_STATUSES,
        details=facts,
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
    body_length: int,
    connect_timeout: float,
    timeout: float,
    details: Mapping[str, str],
) -> DeliveryResult:
    """The result of a post that got no answer."""
    refused = _refusal(error)
    if refused is not None:
        return DeliveryResult(
            succeeded=False, retryable=False, response_excerpt=str(refused), details=details
        )
    reached, template, retryable = next(
        (reached, template, retryable)
        for kind, reached, template, retryable in _NO_ANSWER
        if isinstance(error, kind)
    )
    description = template.format(
        target=TARGET,
        reason=_os_reason(error),
        connect=f"after {connect_timeout:g} s",
        total=f"after {timeout:g} s",
        error=type(error).__name__,
    )
    return DeliveryResult(
        succeeded=False,
        retryable=retryable,
        bytes_sent=body_length if reached else 0,
        response_excerpt=description[:EXCERPT_CHARS],
        details={**details, "error": type(error).__name__},
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


def _os_reason(error: BaseException) -> str:
    # Only the error number's text: asyncio's own messages name the address it tried.
    if isinstance(error, aiohttp.ClientConnectorError):
        error = error.os_error
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno).lower()
    return type(error).__name__
