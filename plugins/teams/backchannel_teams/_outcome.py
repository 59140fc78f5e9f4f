"""How one post to a Workflows URL ended, as a :class:`DeliveryResult` with no secret in it.

The URL is a credential (``sig=``), so nothing here names it: excerpts call it "the Workflows
endpoint" and OS errors are reduced to their errno text. Whatever the remote echoes back is
masked by the host, with every spelling of the URL and its parts.
"""

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

TARGET = "the Workflows endpoint"
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


def response_result(
    *,
    status: int,
    headers: Mapping[str, str],
    body_excerpt: str,
    body_note: str | None,
    sent: SentBytes,
    now: float,
    details: Mapping[str, str],
) -> DeliveryResult:
    """The result of a post the remote answered with ``status``."""
    facts = dict(details)
    if body_note:
        facts["response_body"] = body_note
    remote_id_given = remote_id(headers, REMOTE_ID_HEADERS, (), MAX_REMOTE_ID_CHARS)
    if 200 <= status <= 299:
        if status == 202:
            facts["workflow"] = "accepted: the workflow posts the card to Teams on its own"
        return sent.reported(
            DeliveryResult(
                succeeded=True,
                remote_code=status,
                remote_id=remote_id_given,
                response_excerpt=body_excerpt,
                details=facts,
            )
        )
    if 300 <= status <= 399:
        facts["redirect"] = "not followed: a Workflows URL does not redirect"
    return sent.reported(
        DeliveryResult(
            succeeded=False,
            retryable=is_retryable_status(status),
            remote_code=status,
            remote_id=remote_id_given,
            retry_after=parse_retry_after(headers.get("retry-after"), now),
            response_excerpt=body_excerpt,
            gone=status in GONE_STATUSES,
            details=facts,
        )
    )


def error_result(
    error: BaseException,
    *,
    sent: SentBytes,
    connect_timeout: float,
    timeout: float,
    details: Mapping[str, str],
) -> DeliveryResult:
    """The result of a post that got no answer."""
    refused = destination_refusal(error)
    if refused is not None:
        return DeliveryResult(
            succeeded=False, retryable=False, response_excerpt=str(refused), details=details
        )
    unanswered = describe_unanswered(
        error, target=TARGET, connect_timeout=connect_timeout, timeout=timeout
    )
    result = DeliveryResult(
        succeeded=False,
        retryable=unanswered.retryable,
        response_excerpt=unanswered.description[:EXCERPT_CHARS],
        details={**details, "error": type(error).__name__},
    )
    # The card may have arrived although no answer did.
    return sent.reported(result) if unanswered.may_have_reached else result
