"""Telemetry as a user's backend receives it: ``backchannel serve`` configured only through
the standard OpenTelemetry environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_EXPORTER_OTLP_ENDPOINT and _PROTOCOL, OTEL_{TRACES,METRICS,LOGS}_EXPORTER, no
BACKCHANNEL_OTEL_* at all) exports its spans, metrics and logs to a real OTLP collector
on loopback, once over gRPC and once over HTTP/protobuf. One process, one Resource: the
same service.name and service.instance.id (the worker id on its events) on all three."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from backchannel_client.v1 import feedback_service_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from support.brief_example import brief_example_feedback
from support.feedback_calls import wait_for_event
from support.otlp_collector import OtlpCollector, Protocol, otlp_collector
from support.receiver import WebhookReceiver
from support.server_process import ServerLauncher, ServerProcess
from support.waiting import wait_until
from support.webhook_recipients import create_webhook_recipient

#: Longest wait for what the test did to reach the collector.
SETTLE_TIMEOUT = 60.0
SERVICE_NAME = "lead-feedback-under-test"
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
SEND_FEEDBACK = "backchannel.v1.FeedbackService/SendFeedback"


@pytest.fixture(params=["grpc", "http/protobuf"])
async def collector(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[OtlpCollector]:
    """A collector for the protocol, and the standard environment pointing at it (servers
    started meanwhile inherit it)."""
    protocol: Protocol = request.param
    async with otlp_collector(protocol) as collector:
        for name, value in {
            "OTEL_SERVICE_NAME": SERVICE_NAME,
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=ci,service.namespace=leads",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
        }.items():
            monkeypatch.setenv(name, value)
        for name in ("OTEL_TRACES_SAMPLER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            monkeypatch.delenv(name, raising=False)
        yield collector


async def _served_and_delivered(
    database_url: str, receiver: WebhookReceiver, signing_secret: str, collector: OtlpCollector
) -> tuple[ServerProcess, feedback_service_pb2.SendFeedbackResponse, str]:
    """Feedback sent to a running serve under the caller's trace and delivered; the
    server, the answer and the attempt's event's trace id, once the collector has its
    spans, its latency and circuit metrics and a log record."""
    async with ServerLauncher(database_url) as servers:
        server = await servers.start()
        await create_webhook_recipient(server, "acme", receiver.url, signing_secret)
        answer = await server.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id="otlp-1", feedback=brief_example_feedback(), recipient_ids=["acme"]
            ),
            metadata=(("traceparent", f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"),),
        )
        event = await wait_for_event(server, answer.feedback.id)
        arrived = await wait_until(
            lambda: bool(
                collector.spans_named(SEND_FEEDBACK)
                and collector.spans_named("send acme")
                and collector.spans_named("POST")
                and collector.value("backchannel.delivery.latency", **{"recipient.id": "acme"})
                and collector.points("backchannel.recipient.circuit_state")
                and collector.points("backchannel.deliveries.queue_lag")
                and collector.points("rpc.server.call.duration")
                and collector.log_records("listening")
            ),
            SETTLE_TIMEOUT,
        )
        assert arrived, f"spans: {[s.item.name for s in collector.spans]}\n{server.log()}"
    return server, answer, event.origin_trace_id


def _hex(raw: bytes) -> str:
    return raw.hex()


async def test_serve_exports_over_otlp_as_the_standard_environment_says(
    database_url: str,
    receiver: WebhookReceiver,
    signing_secret: str,
    collector: OtlpCollector,
) -> None:
    server, answer, origin_trace_id = await _served_and_delivered(
        database_url, receiver, signing_secret, collector
    )

    resources = [
        *(s.resource for s in collector.spans),
        *(r.resource for r in collector.logs),
        *collector.resources.values(),
    ]
    assert {r["service.name"] for r in resources} == {SERVICE_NAME}
    assert {r["service.instance.id"] for r in resources} == {server.worker_id}
    assert {r["deployment.environment.name"] for r in resources} == {"ci"}

    [accept] = collector.spans_named(SEND_FEEDBACK)
    assert accept.item.kind == Span.SPAN_KIND_SERVER
    assert _hex(accept.item.trace_id) == CALLER_TRACE == origin_trace_id
    assert _hex(accept.item.parent_span_id) == CALLER_SPAN
    assert {
        k: accept.attributes.get(k)
        for k in ("rpc.system", "rpc.service", "rpc.method", "server.port", "client.address")
    } == {
        "rpc.system": "grpc",
        "rpc.service": "backchannel.v1.FeedbackService",
        "rpc.method": "SendFeedback",
        "server.port": server.port,
        "client.address": "127.0.0.1",
    }

    [attempt] = collector.spans_named("send acme")
    assert attempt.item.kind == Span.SPAN_KIND_PRODUCER
    assert attempt.attributes["messaging.operation.type"] == "send"
    assert attempt.attributes["messaging.destination.name"] == "acme"
    assert attempt.attributes["messaging.message.id"] == answer.deliveries[0].id
    [link] = attempt.item.links
    assert (_hex(link.trace_id), _hex(link.span_id)) == (CALLER_TRACE, _hex(accept.item.span_id))

    [post] = collector.spans_named("POST")
    assert post.item.kind == Span.SPAN_KIND_CLIENT
    assert post.item.parent_span_id == attempt.item.span_id
    assert post.attributes["url.full"] == receiver.url
    assert post.attributes["http.response.status_code"] == 204
    assert post.attributes["server.port"] == receiver.port

    [circuit] = collector.points("backchannel.recipient.circuit_state").items()
    assert circuit == (frozenset({("backchannel.recipient.id", "acme")}), 0)
    assert collector.value("backchannel.delivery.latency", **{"recipient.id": "acme"}) == 1
    calls = collector.points("rpc.server.call.duration")
    send_feedback = frozenset(
        {
            ("rpc.system", "grpc"),
            ("rpc.service", "backchannel.v1.FeedbackService"),
            ("rpc.method", "SendFeedback"),
            ("rpc.grpc.status_code", 0),
        }
    )
    assert calls[send_feedback] == 1
    [(_, lag)] = collector.points("backchannel.deliveries.queue_lag").items()
    assert lag >= 0
