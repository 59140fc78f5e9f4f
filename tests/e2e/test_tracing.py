"""OpenTelemetry: the accept span's context is stored with the feedback, and each
delivery attempt is a span linked to it (messaging conventions) whose ids are on the
event with the accept's trace id (origin_trace_id); an HTTP transport's attempt has an
HTTP client span under it (HTTP conventions, the URL's credentials and query values
redacted); the caller's tracestate goes out with the outbound traceparent. With no
exporter, the ids are all there but new traces are not sampled."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp import web
from backchannel_client.v1 import feedback_service_pb2, recipient_pb2, recipient_service_pb2
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from support.brief_example import brief_example_feedback
from support.feedback_calls import list_all_events, wait_for_event
from support.in_process_server import RunningServer
from support.polling import eventually
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
    assert attempt_span.name == "send traced"
    assert attempt_span.kind is SpanKind.PRODUCER
    assert {
        key: (attempt_span.attributes or {})[key]
        for key in (
            "messaging.operation.type",
            "messaging.destination.name",
            "messaging.message.id",
        )
    } == {
        "messaging.operation.type": "send",
        "messaging.destination.name": "traced",
        "messaging.message.id": event.delivery_id,
    }
    assert format(attempt_span.context.trace_id, "032x") == event.trace_id
    assert event.trace_id != accept_trace_id
    assert event.origin_trace_id == accept_trace_id
    [link] = attempt_span.links
    assert format(link.context.trace_id, "032x") == accept_trace_id
    assert format(link.context.span_id, "016x") == accept_span_id
    [http_span] = [s for s in finished.values() if s.parent == attempt_span.context]
    assert (http_span.name, http_span.kind) == ("POST", SpanKind.CLIENT)
    assert dict(http_span.attributes or {}) == {
        "http.request.method": "POST",
        "url.full": receiver.url,
        "server.address": "127.0.0.1",
        "server.port": receiver.port,
        "http.response.status_code": 204,
        "network.protocol.name": "http",
    }
    assert attempt_span.start_time <= http_span.start_time <= http_span.end_time
    assert http_span.end_time <= attempt_span.end_time
    [request] = receiver.requests
    assert request.headers["traceparent"].startswith(f"00-{event.trace_id}-{event.span_id}-")


async def _failed_http_span(
    backchannel: RunningServer, receiver: WebhookReceiver, recipient_id: str
) -> tuple[ReadableSpan, str]:
    """The HTTP client span of an attempt to ``recipient_id`` answered 500, and the
    attempt's trace id."""
    receiver.respond = lambda _request: web.Response(status=500)
    with recorded_spans() as spans:
        answer = await backchannel.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id=f"{recipient_id}-1",
                feedback=brief_example_feedback(),
                recipient_ids=[recipient_id],
            )
        )
        event = await wait_for_event(backchannel, answer.feedback.id)

        async def http_spans() -> list[ReadableSpan]:
            return [s for s in spans.get_finished_spans() if s.name == "POST"]

        [http_span] = await eventually(http_spans, timeout=10)
    return http_span, event.trace_id


async def test_an_http_client_span_redacts_the_urls_query_values_and_marks_a_5xx(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hook?token=tok-secret-1&v=2"
    await create_webhook_recipient(backchannel, "querying", url, signing_secret)

    http_span, trace_id = await _failed_http_span(backchannel, receiver, "querying")

    attributes = dict(http_span.attributes or {})
    assert attributes["url.full"] == (
        f"http://127.0.0.1:{receiver.port}/hook?token=REDACTED&v=REDACTED"
    )
    assert (attributes["http.response.status_code"], attributes["error.type"]) == (500, "500")
    assert http_span.status.status_code is StatusCode.ERROR
    assert format(http_span.context.trace_id, "032x") == trace_id


async def test_an_http_client_span_of_a_secret_url_shows_no_part_of_it(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    path = "/workflows/0f8fad5bd9cb469fa16570867728950e/triggers/manual"
    url = f"http://hook-user:hook-password@127.0.0.1:{receiver.port}{path}?sig=sig-secret-1"
    recipient = recipient_pb2.Recipient(
        id="secret-url",
        recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE,
        transport="webhook",
        format="json",
    )
    recipient.secret_settings.update({"url": url, "signing_secrets": signing_secret})
    await backchannel.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
    )

    http_span, _ = await _failed_http_span(backchannel, receiver, "secret-url")

    shown = " ".join(str(value) for value in (http_span.attributes or {}).values())
    for secret in (
        "hook-user",
        "hook-password",
        "0f8fad5bd9cb469fa16570867728950e",
        "sig-secret-1",
    ):
        assert secret not in shown, shown
    assert (http_span.attributes or {})["http.response.status_code"] == 500


async def test_the_callers_tracestate_goes_out_with_the_traceparent(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    answer = await _send_to_a_traced_recipient(
        backchannel,
        receiver,
        signing_secret,
        metadata=(("traceparent", caller), ("tracestate", "vendor=opaque-1,other=2")),
    )
    event = await wait_for_event(backchannel, answer.feedback.id)

    [request] = receiver.requests
    assert request.headers["traceparent"].startswith(f"00-{event.trace_id}-")
    assert request.headers["tracestate"] == "vendor=opaque-1,other=2"
    assert event.origin_trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_events_are_found_by_the_callers_trace_id_and_by_their_own(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    answer = await _send_to_a_traced_recipient(
        backchannel,
        receiver,
        signing_secret,
        metadata=(("traceparent", f"00-{caller_trace}-00f067aa0ba902b7-01"),),
    )
    event = await wait_for_event(backchannel, answer.feedback.id)

    by_origin = await list_all_events(backchannel, f'origin_trace_id = "{caller_trace}"')
    by_own = await list_all_events(backchannel, f'trace_id = "{event.trace_id}"')
    elsewhere = await list_all_events(backchannel, f'origin_trace_id = "{event.trace_id}"')

    assert [e.event_id for e in by_origin] == [event.event_id]
    assert [e.event_id for e in by_own] == [event.event_id]
    assert elsewhere == []


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
