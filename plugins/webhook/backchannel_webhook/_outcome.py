"""How one webhook attempt ended, as a :class:`DeliveryResult`: excerpts name the
destination only as the caller says, never by a secret URL."""

from __future__ import annotations

from collections.abc import Mapping

from backchannel.plugin import DeliveryResult
from backchannel.plugin_support import (
    EXCERPT_CHARS,
    SentBytes,
    is_retryable_status,
    parse_retry_after,
    remote_id,
)
from backchannel.plugin_support.aiohttp import describe_unanswered, destination_refusal

#: Response headers that carry the receiver's id for a request, in order of preference.
REMOTE_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-correlation-id")
MAX_REMOTE_ID_CHARS = 256


def response_result(
    *,
    status: int,
    headers: Mapping[str, str],
    body_excerpt: str,
    body_note: str | None,
    sent: SentBytes,
    now: float,
) -> DeliveryResult:
    """The result of an attempt the receiver answered with ``status``. (The host masks
    whatever of the recipient's secrets the receiver echoes in it.)"""
    details: dict[str, str] = {}
    if body_note:
        details["response_body"] = body_note
    remote_id_given = remote_id(headers, REMOTE_ID_HEADERS, (), MAX_REMOTE_ID_CHARS)
    if 200 <= status <= 299:
        return sent.reported(
            DeliveryResult(
                succeeded=True,
                remote_code=status,
                remote_id=remote_id_given,
                response_excerpt=body_excerpt,
                details=details,
            )
        )
    if 300 <= status <= 399:
        details["redirect"] = "not followed: webhook redirects are refused"
    return sent.reported(
        DeliveryResult(
            succeeded=False,
            retryable=is_retryable_status(status),
            remote_code=status,
            remote_id=remote_id_given,
            retry_after=parse_retry_after(headers.get("retry-after"), now),
            response_excerpt=body_excerpt,
            gone=status == 410,
            details=details,
        )
    )


def error_result(
    error: BaseException,
    *,
    target: str,
    show_address: bool,
    sent: SentBytes,
    connect_timeout: float,
    timeout: float,
) -> DeliveryResult:
    """The result of an attempt that got no answer. ``target`` names the destination in
    excerpts: its host and port, or only "the endpoint" when the URL is a secret."""
    refused = destination_refusal(error)
    if refused is not None:
        details = {"refused_address": refused.address} if show_address and refused.address else {}
        return DeliveryResult(
            succeeded=False, retryable=False, response_excerpt=str(refused), details=details
        )
    unanswered = describe_unanswered(
        error, target=target, connect_timeout=connect_timeout, timeout=timeout
    )
    result = DeliveryResult(
        succeeded=False,
        retryable=unanswered.retryable,
        response_excerpt=unanswered.description[:EXCERPT_CHARS],
        details={"error": type(error).__name__},
    )
    # What was handed to the connection before it failed, when any of it may have arrived.
    return sent.reported(result) if unanswered.may_have_reached else result
