"""The server span of a call follows OpenTelemetry's RPC conventions: its name is
service/method without a leading slash, it names both ends of the call, and only the
server's own failures make it an ERROR span (a stream the client cancels, or a request
refused as invalid, is not one). A real grpc.aio server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from backchannel_client.v1 import feedback_pb2, feedback_service_pb2, feedback_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from support.polling import eventually
from support.recorded_spans import recorded_spans

from backchannel.api.errors import ApiError
from backchannel.api.interceptors import ServerAddress, api_interceptors
from backchannel.api.interceptors.method_interceptor import ServicerContext
from backchannel.api.interceptors.rpc_tracing import peer_address

SERVICE = feedback_service_pb2.DESCRIPTOR.services_by_name["FeedbackService"].full_name


class Scripted(feedback_service_pb2_grpc.FeedbackServiceServicer):
    """SendFeedback: request id ``invalid`` is refused as INVALID_ARGUMENT, ``bug`` raises;
    any other is answered. The stream sends one heartbeat and then stays open."""

    async def SendFeedback(
        self, request: feedback_service_pb2.SendFeedbackRequest, context: ServicerContext
    ) -> feedback_service_pb2.SendFeedbackResponse:
        if request.request_id == "invalid":
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", "bad")
        if request.request_id == "bug":
            raise RuntimeError("a bug")
        return feedback_service_pb2.SendFeedbackResponse(feedback=feedback_pb2.Feedback(id="f"))

    async def StreamFeedbackEvents(
        self, request: feedback_service_pb2.StreamFeedbackEventsRequest, context: ServicerContext
    ) -> AsyncIterator[feedback_service_pb2.StreamFeedbackEventsResponse]:
        yield feedback_service_pb2.StreamFeedbackEventsResponse(
            heartbeat=feedback_service_pb2.Heartbeat(cursor="c")
        )
        await asyncio.Event().wait()


@pytest.fixture
async def feedback() -> AsyncIterator[tuple[feedback_service_pb2_grpc.FeedbackServiceStub, int]]:
    address = ServerAddress()
    server = grpc.aio.server(
        interceptors=api_interceptors([SERVICE], address=address),
        options=[("grpc.so_reuseport", 0)],
    )
    feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server(Scripted(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    address.host, address.port = "127.0.0.1", port
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield feedback_service_pb2_grpc.FeedbackServiceStub(channel), port
    finally:
        await channel.close()
        await server.stop(None)


async def _span_named(spans: Any, name: str) -> ReadableSpan:
    async def found() -> list[ReadableSpan]:
        return [s for s in spans.get_finished_spans() if s.name == name]

    [span] = await eventually(found, timeout=10)
    return span


async def test_a_call_span_is_named_service_slash_method_and_names_both_ends(
    feedback: tuple[feedback_service_pb2_grpc.FeedbackServiceStub, int],
) -> None:
    stub, port = feedback
    with recorded_spans() as spans:
        await stub.SendFeedback(feedback_service_pb2.SendFeedbackRequest(request_id="ok"))
        span = await _span_named(spans, f"{SERVICE}/SendFeedback")

    assert span.kind is SpanKind.SERVER
    attributes = dict(span.attributes or {})
    assert attributes["rpc.system"] == "grpc"
    assert (attributes["rpc.service"], attributes["rpc.method"]) == (SERVICE, "SendFeedback")
    assert (attributes["server.address"], attributes["server.port"]) == ("127.0.0.1", port)
    assert attributes["client.address"] == "127.0.0.1"
    assert isinstance(attributes["client.port"], int) and attributes["client.port"] != port
    assert attributes["rpc.grpc.status_code"] == 0
    assert span.status.status_code is StatusCode.UNSET


async def test_a_stream_the_client_cancels_is_not_an_error_span(
    feedback: tuple[feedback_service_pb2_grpc.FeedbackServiceStub, int],
) -> None:
    stub, _ = feedback
    with recorded_spans() as spans:
        call = stub.StreamFeedbackEvents(feedback_service_pb2.StreamFeedbackEventsRequest())
        await call.read()
        call.cancel()
        span = await _span_named(spans, f"{SERVICE}/StreamFeedbackEvents")

    assert span.attributes is not None
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]
    assert span.status.status_code is not StatusCode.ERROR


async def test_a_request_refused_as_invalid_is_not_an_error_span_and_a_bug_is(
    feedback: tuple[feedback_service_pb2_grpc.FeedbackServiceStub, int],
) -> None:
    stub, _ = feedback
    with recorded_spans() as spans:
        for request_id in ("invalid", "bug"):
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.SendFeedback(
                    feedback_service_pb2.SendFeedbackRequest(request_id=request_id)
                )

        async def both() -> list[ReadableSpan]:
            found = [s for s in spans.get_finished_spans() if s.name.endswith("/SendFeedback")]
            return found if len(found) == 2 else []

        invalid, bug = sorted(
            await eventually(both, timeout=10),
            key=lambda s: (s.attributes or {}).get("rpc.grpc.status_code", 0),
        )

    assert invalid.status.status_code is StatusCode.UNSET
    assert bug.status.status_code is StatusCode.ERROR
    assert (bug.attributes or {})["error.type"] == "INTERNAL"


def test_peer_addresses_of_every_kind_are_read() -> None:
    assert peer_address("ipv4:127.0.0.1:5555") == ("127.0.0.1", 5555)
    assert peer_address("ipv6:[::1]:5555") == ("::1", 5555)
    assert peer_address("unix:/tmp/socket") == ("/tmp/socket", None)
