"""What wraps every attempt's transmission, interceptor style (temporal's
``Interceptor(next)``): each takes the next step and is itself a step, so tracing, timing
and whatever comes later (metrics, logging, semantic-convention spans) wrap the
transmission without living inside it. From the outside in: :class:`Traced`, then
:class:`Timed`, then the :class:`~backchannel.delivery.transmission.Transmission`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from backchannel.delivery.transmission import Attempt, Timing, TraceIds, Transmitted
from backchannel.plugin_support import SPAN_FACTS
from backchannel.telemetry import span_context_of, unsampled_root_span

#: One step of an attempt: from the attempt to what it came to.
Step = Callable[[Attempt], Awaitable[Transmitted]]


class AttemptInterceptor:
    """A step wrapped around the ``next`` one; by default it only passes the call on."""

    def __init__(self, next_step: Step) -> None:
        self.next_step = next_step

    async def __call__(self, attempt: Attempt) -> Transmitted:
        return await self.next_step(attempt)


class Timed(AttemptInterceptor):
    """The attempt's wall-clock start and end, and its latency."""

    async def __call__(self, attempt: Attempt) -> Transmitted:
        start = datetime.now(UTC)
        started = time.perf_counter()
        transmitted = await self.next_step(attempt)
        latency = time.perf_counter() - started
        timing = Timing(start, datetime.now(UTC), int(latency * 1_000_000))
        return dataclasses.replace(transmitted, timing=timing)


@functools.cache
def _tracer() -> trace.Tracer:
    # Looked up once: the SDK builds a new tracer object on every call.
    return trace.get_tracer("backchannel.delivery")


def _links(traceparent: str | None) -> list[Link]:
    span_context = span_context_of(traceparent)
    return [Link(span_context)] if span_context is not None else []


class Traced(AttemptInterceptor):
    """The attempt's span, after OpenTelemetry's messaging conventions: a PRODUCER span
    ``send <recipient id>`` with ``messaging.operation.type=send``,
    ``messaging.destination.name`` = the recipient id and ``messaging.message.id`` = the
    delivery id (the recipient's idempotency key, the same on every attempt); and under it
    the protocol's own CLIENT span (an HTTP client span per the HTTP conventions for HTTP
    transports), made from the facts the transport reported in ``DeliveryResult.details``
    (:data:`backchannel.plugin_support.SPAN_FACTS`, already redacted) and timed by the
    send.

    Link, not parent. The attempt span starts a trace of its own and links to the span of
    the request that accepted the feedback (its ``traceparent``, stored on the outbox row):
    the messaging conventions link a send to the message's creation context when the two
    are separate operations, which they are here (a transactional outbox: the accept
    answered and its trace ended before any attempt; retries come minutes to days later;
    one accept fans out to one delivery per recipient, each with many attempts). As a
    parent it would stretch the caller's trace over days and bury the accept under
    attempts. The caller's trace id stays findable on every event (``origin_trace_id``),
    and its ``tracestate`` travels with the outbound ``traceparent``, which is this span's
    (the message's creation context for whoever receives it). The steps inside run with it
    current."""

    async def __call__(self, attempt: Attempt) -> Transmitted:
        claimed = attempt.claimed
        recipient = claimed.recipient
        unsampled = unsampled_root_span()
        with (
            _tracer().start_as_current_span(
                f"send {recipient.id}",
                kind=SpanKind.PRODUCER,
                links=_links(claimed.traceparent),
                attributes={
                    "messaging.system": "backchannel",
                    "messaging.operation.type": "send",
                    "messaging.operation.name": "send",
                    "messaging.destination.name": recipient.id,
                    "messaging.message.id": claimed.delivery_id,
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
            transmitted = await self.next_step(attempt)
            result = transmitted.result
            if span.is_recording():
                _protocol_span(span, transmitted)
                span.set_attribute("backchannel.succeeded", result.succeeded)
                if result.remote_code is not None:
                    span.set_attribute("backchannel.remote_code", result.remote_code)
                if not result.succeeded:
                    span.set_attribute(
                        "error.type", result.details.get("error.type") or "delivery_failed"
                    )
                    span.set_status(Status(StatusCode.ERROR, result.response_excerpt))
            context = span.get_span_context()
        ids = (
            TraceIds(format(context.trace_id, "032x"), format(context.span_id, "016x"))
            if context.is_valid
            else TraceIds()
        )
        return dataclasses.replace(transmitted, trace=ids)


def _protocol_span(parent: trace.Span, transmitted: Transmitted) -> None:
    """The CLIENT span of the protocol exchange under ``parent``, from the semantic-
    convention facts the transport reported, timed by the send; none when it reported
    none (a transport that predates them, or nothing was sent)."""
    details = transmitted.result.details
    attributes: dict[str, str | int] = {}
    for key, numeric in SPAN_FACTS.items():
        value = details.get(key)
        if value:
            attributes[key] = int(value) if numeric and value.isdigit() else value
    if not attributes or transmitted.sent is None:
        return
    name = str(attributes.get("http.request.method") or attributes.get("network.protocol.name"))
    began, ended = transmitted.sent
    span = _tracer().start_span(
        name,
        context=trace.set_span_in_context(parent),
        kind=SpanKind.CLIENT,
        attributes=attributes,
        start_time=began,
    )
    if "error.type" in attributes:
        span.set_status(Status(StatusCode.ERROR))
    span.end(end_time=ended)
