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
    """The attempt's client span, linked to the trace that accepted the feedback (a link,
    not a parent: the accept has long ended, and one accept fans out to many attempts).
    The steps inside run with it current, so outbound requests carry its traceparent."""

    async def __call__(self, attempt: Attempt) -> Transmitted:
        claimed = attempt.claimed
        recipient = claimed.recipient
        unsampled = unsampled_root_span()
        with (
            _tracer().start_as_current_span(
                "backchannel.deliver",
                kind=SpanKind.CLIENT,
                links=_links(claimed.traceparent),
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
            transmitted = await self.next_step(attempt)
            result = transmitted.result
            span.set_attribute("backchannel.succeeded", result.succeeded)
            if result.remote_code is not None:
                span.set_attribute("backchannel.remote_code", result.remote_code)
            if not result.succeeded:
                span.set_status(Status(StatusCode.ERROR, result.response_excerpt))
            context = span.get_span_context()
        ids = (
            TraceIds(format(context.trace_id, "032x"), format(context.span_id, "016x"))
            if context.is_valid
            else TraceIds()
        )
        return dataclasses.replace(transmitted, trace=ids)
