"""The interceptor chain as a seam: an interceptor added inside it (where authentication
will go) establishes the caller servicers read, its refusals are answered as
google.rpc.Status and traced like any error; each method is wrapped once; other services
pass through. A real grpc.aio server on loopback, with a servicer of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from backchannel_client.v1 import feedback_pb2, feedback_service_pb2, feedback_service_pb2_grpc
from grpc_health.v1 import _async as health_async
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.polling import eventually
from support.recorded_spans import recorded_spans
from support.rpc_errors import rich_error

from backchannel.api.caller import ANONYMOUS, Caller, calling_as, current_caller
from backchannel.api.errors import ApiError
from backchannel.api.interceptors import MethodInterceptor, api_interceptors
from backchannel.api.interceptors.method_interceptor import (
    MethodHandler,
    ServicerContext,
    unary_handler,
)

SERVICE = feedback_service_pb2.DESCRIPTOR.services_by_name["FeedbackService"].full_name
SEND_FEEDBACK = f"{SERVICE}/SendFeedback"
Metadata = tuple[tuple[str, str], ...]


class CallerEcho(feedback_service_pb2_grpc.FeedbackServiceServicer):
    """Answers with the name of the caller it sees (in the feedback id, or each item's
    heartbeat cursor), and fails on request id ``fail``."""

    async def SendFeedback(
        self, request: feedback_service_pb2.SendFeedbackRequest, context: ServicerContext
    ) -> feedback_service_pb2.SendFeedbackResponse:
        if request.request_id == "fail":
            raise RuntimeError("secret detail of a bug")
        return feedback_service_pb2.SendFeedbackResponse(
            feedback=feedback_pb2.Feedback(id=current_caller().name)
        )

    async def StreamFeedbackEvents(
        self, request: feedback_service_pb2.StreamFeedbackEventsRequest, context: ServicerContext
    ) -> AsyncIterator[feedback_service_pb2.StreamFeedbackEventsResponse]:
        for _ in range(2):
            yield feedback_service_pb2.StreamFeedbackEventsResponse(
                heartbeat=feedback_service_pb2.Heartbeat(cursor=current_caller().name)
            )


class BearerNames(MethodInterceptor):
    """A stand-in for authentication: ``authorization: Bearer NAME`` makes NAME the
    caller; a call without it is refused. Counts the methods it wraps."""

    def __init__(self, services: list[str]) -> None:
        super().__init__(services)
        self.wrapped: list[str] = []

    def wrap(self, method: str, handler: MethodHandler) -> MethodHandler:
        self.wrapped.append(method)
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: ServicerContext) -> Any:
                with calling_as(_caller(context)):
                    return await inner(request, context)

            return unary_handler(unary, handler, handler.request_deserializer)
        stream = handler.unary_stream

        async def items(request: Any, context: ServicerContext) -> AsyncIterator[Any]:
            with calling_as(_caller(context)):
                async for item in stream(request, context):
                    yield item

        return grpc.unary_stream_rpc_method_handler(
            items,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _caller(context: ServicerContext) -> Caller:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and value.startswith("Bearer "):
            return Caller(value.removeprefix("Bearer "), authenticated=True)
    raise ApiError(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", "no bearer token")


class Served:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.feedback = feedback_service_pb2_grpc.FeedbackServiceStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)

    async def caller_seen(self, metadata: Metadata = ()) -> str:
        answer = await self.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(request_id="r"), metadata=metadata
        )
        name: str = answer.feedback.id
        return name

    async def callers_seen_by_a_stream(self, metadata: Metadata) -> list[str]:
        call = self.feedback.StreamFeedbackEvents(
            feedback_service_pb2.StreamFeedbackEventsRequest(), metadata=metadata
        )
        return [item.heartbeat.cursor async for item in call]


async def _serving(*inner: MethodInterceptor) -> AsyncIterator[Served]:
    server = grpc.aio.server(
        interceptors=api_interceptors([SERVICE], *inner), options=[("grpc.so_reuseport", 0)]
    )
    feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server(CallerEcho(), server)
    health = health_async.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Served(channel)
    finally:
        await channel.close()
        await server.stop(None)


@pytest.fixture
def bearer_names() -> BearerNames:
    return BearerNames([SERVICE])


@pytest.fixture
async def with_auth(bearer_names: BearerNames) -> AsyncIterator[Served]:
    async for served in _serving(bearer_names):
        yield served


@pytest.fixture
async def without_auth() -> AsyncIterator[Served]:
    async for served in _serving():
        yield served


@pytest.fixture
def spans() -> Iterator[Any]:
    with recorded_spans() as recorded:
        yield recorded


async def _finished_spans(spans: Any) -> list[Any]:
    """The SendFeedback spans, once there are any: a failed call's span ends after its
    status is sent, so the client may hear the status first."""

    async def finished() -> list[Any]:
        return [s for s in spans.get_finished_spans() if s.name == SEND_FEEDBACK]

    return await eventually(finished, timeout=5)


async def test_without_an_authentication_interceptor_every_call_is_anonymous(
    without_auth: Served,
) -> None:
    assert await without_auth.caller_seen() == ANONYMOUS.name


async def test_an_interceptor_added_inside_the_chain_sets_the_caller_the_servicer_sees(
    with_auth: Served,
) -> None:
    assert await with_auth.caller_seen((("authorization", "Bearer alice"),)) == "alice"
    assert await with_auth.caller_seen((("authorization", "Bearer bob"),)) == "bob"
    assert current_caller() is ANONYMOUS


async def test_a_stream_sees_its_caller_for_every_item(with_auth: Served) -> None:
    seen = await with_auth.callers_seen_by_a_stream((("authorization", "Bearer carol"),))

    assert seen == ["carol", "carol"]


async def test_a_refusal_of_an_added_interceptor_is_answered_as_a_status_and_traced(
    with_auth: Served, spans: Any
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await with_auth.caller_seen()

    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.error_info.reason == "UNAUTHENTICATED"
    [span] = await _finished_spans(spans)
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]


async def test_a_servicer_failing_unexpectedly_is_internal_and_leaks_nothing(
    without_auth: Served, spans: Any
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await without_auth.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(request_id="fail")
        )

    error = rich_error(caught.value)
    assert (error.code, error.error_info.reason) == (grpc.StatusCode.INTERNAL, "INTERNAL")
    assert "secret" not in str(error.status)
    [span] = await _finished_spans(spans)
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INTERNAL.value[0]


async def test_each_method_is_wrapped_once_however_often_it_is_called(
    with_auth: Served, bearer_names: BearerNames
) -> None:
    for name in ("alice", "bob", "carol"):
        await with_auth.caller_seen((("authorization", f"Bearer {name}"),))

    assert bearer_names.wrapped == [f"/{SEND_FEEDBACK}"]


async def test_calls_of_other_services_pass_through_unwrapped(
    with_auth: Served, bearer_names: BearerNames
) -> None:
    answer = await with_auth.health.Check(health_pb2.HealthCheckRequest())

    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert bearer_names.wrapped == []
