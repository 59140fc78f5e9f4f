"""OpenTelemetry: the accept span's context is stored with the feedback, and each
delivery attempt is a span linked to it whose ids are on the event. With no exporter,
the ids are all there but new traces are not sampled."""

from __future__ import annotations

import asyncpg
import pytest
from backchannel_client.v1 import feedback_service_pb2
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.brief_example import brief_example_feedback
from support.feedback_calls import wait_for_event
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver
from support.recorded_spans import recorded_spans
from support.server_process import ServerLauncher, ServerProcess
from support.webhook_recipients import create_webhook_recipient

#: The sampled bit of a traceparent's flags (W3C Trace Context).
SAMPLED = 0x01


async def _send_to_a_traced_recipient(
    running: RunningServer | ServerProcess,
    receiver: WebhookReceiver,
    signing_secret: str,
    metadata: tuple[tuple[str, str], ...] = (),
) -> feedback_service_pb2.SendFeedbackResponse:
    await create_webhook_recipient(running, "traced", receiver.url, signing_secret)
    answer: feedback_service_pb2.SendFeedbackResponse = await running.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id="traced-1", feedback=brief_example_feedback(), recipient_ids=["traced"]
        ),
        metadata=metadata,
    )
    return answer


async def _stored_traceparent(database_url: str, feedback_id: str) -> str:
    connection = await asyncpg.connect(database_url)
    try:
        traceparent: str = await connection.fetchval(
            "SELECT traceparent FROM feedback WHERE id = $1", feedback_id
        )
    finally:
        await connection.close()
    return traceparent


async def test_each_attempt_is_a_span_linked_to_the_accepting_rpc(
    backchannel: RunningServer,
    receiver: WebhookReceiver,
    signing_secret: str,
    database_url: str,
) -> None:
    with recorded_spans() as spans:
        await _check_attempt_span_linked_to_accept(
            backchannel, receiver, signing_secret, database_url, spans
        )


async def _check_attempt_span_linked_to_accept(
    backchannel: RunningServer,
    receiver: WebhookReceiver,
    signing_secret: str,
    database_url: str,
    spans: InMemorySpanExporter,
) -> None:
    answer = await _send_to_a_traced_recipient(backchannel, receiver, signing_secret)
    event = await wait_for_event(backchannel, answer.feedback.id)

    traceparent = await _stored_traceparent(database_url, answer.feedback.id)
    _, accept_trace_id, accept_span_id, _ = traceparent.split("-")
    finished = {format(s.context.span_id, "016x"): s for s in spans.get_finished_spans()}
    server_span = finished[accept_span_id]
    assert server_span.name == "backchannel.v1.FeedbackService/SendFeedback"
    attempt_span = finished[event.span_id]
    assert attempt_span.name == "backchannel.deliver"
    assert format(attempt_span.context.trace_id, "032x") == event.trace_id
    [link] = attempt_span.links
    assert format(link.context.trace_id, "032x") == accept_trace_id
    assert format(link.context.span_id, "016x") == accept_span_id
    [request] = receiver.requests
    assert request.headers["traceparent"].startswith(f"00-{event.trace_id}-{event.span_id}-")


async def test_the_accepting_rpc_continues_the_callers_trace(
    backchannel: RunningServer,
    receiver: WebhookReceiver,
    signing_secret: str,
    database_url: str,
) -> None:
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    answer = await _send_to_a_traced_recipient(
        backchannel,
        receiver,
        signing_secret,
        metadata=(("traceparent", f"00-{caller_trace}-{caller_span}-01"),),
    )

    traceparent = await _stored_traceparent(database_url, answer.feedback.id)
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, trace_id, flags) == ("00", caller_trace, "01")
    assert span_id != caller_span  # the server's own span, a child of the caller's


async def test_with_no_exporter_spans_carry_ids_but_new_traces_are_not_sampled(
    database_url: str,
    receiver: WebhookReceiver,
    signing_secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    async with ServerLauncher(database_url, otel_exporter="none") as servers:
        server = await servers.start()
        answer = await _send_to_a_traced_recipient(server, receiver, signing_secret)
        event = await wait_for_event(server, answer.feedback.id)

    traceparent = await _stored_traceparent(database_url, answer.feedback.id)
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00" and int(trace_id, 16) != 0 and int(span_id, 16) != 0
    assert not int(flags, 16) & SAMPLED
    assert int(event.trace_id, 16) != 0 and int(event.span_id, 16) != 0
    [request] = receiver.requests
    version, trace_id, span_id, flags = request.headers["traceparent"].split("-")
    assert (trace_id, span_id) == (event.trace_id, event.span_id)
    assert not int(flags, 16) & SAMPLED
