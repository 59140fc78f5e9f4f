"""One attempt: transmit (render and send, traced and timed), then classify what
happened into the delivery's next state and its feedback-sent event."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from backchannel import __version__
from backchannel.delivery.attempt_interceptors import Timed, Traced
from backchannel.delivery.reported_facts import reported_facts
from backchannel.delivery.retry_policy import SUPPRESSED, RetryPolicy, next_step
from backchannel.delivery.transmission import Attempt, Transmission, Transmitted
from backchannel.ids import new_id
from backchannel.model import (
    ORIGIN,
    AggregationLevel,
    AttemptOutcome,
    ClaimedDelivery,
    EventRecord,
)
from backchannel.plugin_host import LoadedPlugins
from backchannel.recipient_transport import PreparedRecipients


@dataclass(frozen=True)
class AttemptSettings:
    #: The server's default delay before each attempt (the first usually 0).
    retry_schedule: tuple[float, ...]
    #: Hard ceiling on one send, seconds, past the transport's own timeouts.
    send_deadline: float
    worker_id: str
    #: The least delay after a "slow down" answer (429, 502, 503, 504).
    throttle_min_delay: float = 5.0


class AttemptRunner:
    """Makes attempts for one dispatcher: the chain of steps is built once."""

    def __init__(
        self,
        plugins: LoadedPlugins,
        settings: AttemptSettings,
        prepared_recipients: PreparedRecipients,
    ) -> None:
        self._settings = settings
        transmission = Transmission(plugins, prepared_recipients, settings.send_deadline)
        self._transmit = Traced(Timed(transmission))

    async def __call__(self, claimed: ClaimedDelivery) -> AttemptOutcome:
        attempt = Attempt.of(claimed)
        return classify(attempt, await self._transmit(attempt), self._settings)


def classify(
    attempt: Attempt, transmitted: Transmitted, settings: AttemptSettings
) -> AttemptOutcome:
    """The delivery's next state (retry policy) and the attempt's event."""
    claimed, result, content = attempt.claimed, transmitted.result, transmitted.content
    recipient = claimed.recipient
    timing = transmitted.timing
    assert timing is not None, "attempts are timed (attempt_interceptors.Timed)"
    policy = RetryPolicy.for_recipient(
        recipient, settings.retry_schedule, settings.throttle_min_delay
    )
    step = (
        SUPPRESSED
        if transmitted.missing_consent
        else next_step(
            claimed.attempt - claimed.policy_attempt_offset,
            result,
            policy,
            timing.end,
            claimed.policy_start_time or claimed.accept_time,
        )
    )
    body = content.body if content is not None else b""
    reported = reported_facts(result)
    event = EventRecord(
        position=ORIGIN,
        id=new_id("evt"),
        feedback_id=claimed.feedback_id,
        delivery_id=claimed.delivery_id,
        attempt=claimed.attempt,
        recipient_id=recipient.id,
        recipient_type=recipient.recipient_type,
        transport=recipient.transport,
        format_name=recipient.format,
        content_type=content.content_type if content is not None else "",
        aggregation_level=AggregationLevel.INDIVIDUAL,
        processing_status=step.processing_status,
        response_code=result.remote_code or 0,
        response_excerpt=result.response_excerpt,
        remote_id=result.remote_id or "",
        start_time=timing.start,
        end_time=timing.end,
        latency_us=timing.latency_us,
        content_size=len(body),
        content_sha256=hashlib.sha256(body).hexdigest() if content is not None else "",
        trace_id=transmitted.trace.trace_id,
        span_id=transmitted.trace.span_id,
        plugin_distribution=transmitted.plugin[0],
        plugin_version=transmitted.plugin[1],
        server_version=__version__,
        worker_id=settings.worker_id,
        next_attempt_time=step.next_attempt_time,
        lead_id=attempt.feedback.lead.lead_id,
        source_id=attempt.feedback.lead.source_id,
        requested_by=claimed.requested_by,
        origin_trace_id=claimed.origin_trace_id,
        transmitted_size=reported.transmitted_size,
        transmitted_sha256=reported.transmitted_sha256,
        details=reported.details,
        missing_consent=",".join(transmitted.missing_consent),
    )
    return AttemptOutcome(
        event=event,
        lease_token=claimed.lease_token,
        new_state=step.delivery_state,
        next_attempt_time=step.next_attempt_time,
        recipient_gone=result.gone,
        accept_time=claimed.accept_time,
    )
