"""One attempt: render the feedback for its recipient, send it, and say what happened."""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from backchannel_client.v1 import feedback_pb2
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from backchannel import __version__
from backchannel.delivery.retry_policy import RetryPolicy, next_step
from backchannel.feedback_document import feedback_document
from backchannel.ids import new_id
from backchannel.model import (
    ORIGIN,
    AggregationLevel,
    AttemptOutcome,
    ClaimedDelivery,
    EventRecord,
)
from backchannel.plugin import DeliveryResult, OutboundMessage, RenderedContent
from backchannel.plugin_host import LoadedPlugins
from backchannel.recipient_transport import PreparedRecipients
from backchannel.telemetry import current_traceparent, span_context_of, unsampled_root_span

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttemptSettings:
    #: The server's default delay before each attempt (the first usually 0).
    retry_schedule: tuple[float, ...]
    #: Hard ceiling on one send, seconds, past the transport's own timeouts.
    send_deadline: float
    worker_id: str
    #: The least delay after a "slow down" answer (429, 502, 503, 504).
    throttle_min_delay: float = 5.0


@functools.cache
def _tracer() -> trace.Tracer:
    # Looked up once: the SDK builds a new tracer object on every call.
    return trace.get_tracer("backchannel.delivery")


def _linked_context(traceparent: str | None) -> list[Link]:
    span_context = span_context_of(traceparent)
    return [Link(span_context)] if span_context is not None else []


async def perform_attempt(
    claimed: ClaimedDelivery,
    plugins: LoadedPlugins,
    settings: AttemptSettings,
    prepared_recipients: PreparedRecipients,
) -> AttemptOutcome:
    recipient = claimed.recipient
    feedback = feedback_pb2.Feedback.FromString(claimed.record)
    tracer = _tracer()
    content: RenderedContent | None = None
    distribution, version = "", ""
    unsampled = unsampled_root_span()
    with (
        tracer.start_as_current_span(
            "backchannel.deliver",
            kind=SpanKind.CLIENT,
            links=_linked_context(claimed.traceparent),
            attributes={
                "backchannel.delivery_id": claimed.delivery_id,
                "backchannel.feedback_id": claimed.feedback_id,
                "backchannel.recipient_id": recipient.id,
                "backchannel.transport": recipient.transport,
                "backchannel.attempt": claimed.attempt,
            },
        )
        if unsampled is None
        else trace.use_span(unsampled, end_on_exit=True)
    ) as span:
        start_wall = datetime.now(UTC)
        started = time.perf_counter()
        transport = plugins.transports.get(recipient.transport)
        formatter = plugins.formatters.get(recipient.format)
        if transport is None or formatter is None:
            missing = recipient.transport if transport is None else recipient.format
            result = DeliveryResult(
                succeeded=False,
                retryable=True,
                response_excerpt=f"{missing!r} is not installed on this server",
            )
        else:
            origin = plugins.origin_of_transport(recipient.transport)
            distribution, version = origin.distribution, origin.version
            document = feedback_document(feedback)
            try:
                content = formatter.render(document, recipient.format_options)
            except Exception as error:
                log.warning("formatter %s failed: %s", recipient.format, type(error).__name__)
                result = DeliveryResult(
                    succeeded=False,
                    response_excerpt=f"format {recipient.format!r} failed to render",
                )
            else:
                message = OutboundMessage(
                    delivery_id=claimed.delivery_id,
                    feedback_id=claimed.feedback_id,
                    recipient_id=recipient.id,
                    attempt=claimed.attempt,
                    event_type=f"feedback.{feedback_document_kind(feedback)}",
                    content=content,
                    document=document,
                    traceparent=current_traceparent(),
                )
                prepared = prepared_recipients.get(recipient, transport)
                # Redacted there, before a span, an event or a log line sees it: a
                # transport that forgets to mask cannot leak a secret.
                result = await prepared.send(message, settings.send_deadline)
        latency = time.perf_counter() - started
        end_wall = datetime.now(UTC)
        span.set_attribute("backchannel.succeeded", result.succeeded)
        if result.remote_code is not None:
            span.set_attribute("backchannel.remote_code", result.remote_code)
        if not result.succeeded:
            span.set_status(Status(StatusCode.ERROR, result.response_excerpt))
        span_context = span.get_span_context()
    policy = RetryPolicy.for_recipient(
        recipient, settings.retry_schedule, settings.throttle_min_delay
    )
    step = next_step(
        claimed.attempt - claimed.policy_attempt_offset,
        result,
        policy,
        end_wall,
        claimed.policy_start_time or claimed.accept_time,
    )
    body = content.body if content is not None else b""
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
        start_time=start_wall,
        end_time=end_wall,
        latency_us=int(latency * 1_000_000),
        content_size=len(body),
        content_sha256=hashlib.sha256(body).hexdigest() if content is not None else "",
        trace_id=format(span_context.trace_id, "032x") if span_context.is_valid else "",
        span_id=format(span_context.span_id, "016x") if span_context.is_valid else "",
        plugin_distribution=distribution,
        plugin_version=version,
        server_version=__version__,
        worker_id=settings.worker_id,
        next_attempt_time=step.next_attempt_time,
        lead_id=feedback.lead.lead_id,
        source_id=feedback.lead.source_id,
        requested_by=claimed.requested_by,
    )
    return AttemptOutcome(
        event=event,
        lease_token=claimed.lease_token,
        new_state=step.delivery_state,
        next_attempt_time=step.next_attempt_time,
        recipient_gone=result.gone,
    )


def feedback_document_kind(feedback: feedback_pb2.Feedback) -> str:
    return feedback_pb2.FeedbackKind.Name(feedback.kind).removeprefix("FEEDBACK_KIND_").lower()
