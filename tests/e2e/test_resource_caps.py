"""What one caller can make the server hold is bounded: the size of a feedback and the
entries of its lists and maps, event streams per caller and in all (RESOURCE_EXHAUSTED,
saying which cap), connections held at once and connections left idle. Against a real
server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from backchannel_client.v1 import feedback_service_pb2, feedback_service_pb2_grpc
from support.brief_example import brief_example_feedback
from support.database_rows import count_rows
from support.in_process_server import RunningServer, serving
from support.rpc_errors import rich_error
from support.waiting import wait_until

StreamCall = grpc.aio.UnaryStreamCall[
    feedback_service_pb2.StreamFeedbackEventsRequest,
    feedback_service_pb2.StreamFeedbackEventsResponse,
]


async def refused_feedback(running: RunningServer, feedback: object) -> list[str]:
    request = feedback_service_pb2.SendFeedbackRequest(request_id="big", feedback=feedback)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await running.feedback.SendFeedback(request)
    error = rich_error(failure.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    return error.violated_fields


async def test_a_feedback_larger_than_its_cap_is_refused_and_nothing_stored(
    database_url: str,
) -> None:
    feedback = brief_example_feedback()
    feedback.attributes.update({f"note{i}": "n" * 1000 for i in range(60)})
    assert 60_000 < feedback.ByteSize() < 64 * 1024
    async with serving(database_url, max_feedback_bytes=32 * 1024) as running:
        assert await refused_feedback(running, feedback) == ["feedback"]
        assert await count_rows(database_url, "feedback") == {"feedback": 0}


async def test_the_default_cap_takes_a_feedback_with_full_attributes(
    backchannel: RunningServer,
) -> None:
    feedback = brief_example_feedback()
    feedback.attributes.update({f"note{i}": "n" * 1000 for i in range(63)})
    assert feedback.attributes.ByteSize() < 64 * 1024
    request = feedback_service_pb2.SendFeedbackRequest(request_id="full", feedback=feedback)

    answer = await backchannel.feedback.SendFeedback(request)

    assert answer.feedback.id


async def test_the_issues_megabytes_of_quality_dimensions_are_refused_and_nothing_stored(
    backchannel: RunningServer, database_url: str
) -> None:
    feedback = brief_example_feedback()
    # The issue's 150k dimensions: megabytes, under gRPC's own 4 MiB limit.
    feedback.quality.dimensions.update({f"d{i}": 50 for i in range(150_000)})
    assert 2_000_000 < feedback.ByteSize() < 4 * 1024 * 1024

    violated = await refused_feedback(backchannel, feedback)

    assert violated == ["request", "feedback.quality.dimensions"]
    assert await count_rows(database_url, "feedback") == {"feedback": 0}


@pytest.mark.parametrize(
    ("fill", "field"),
    [
        (lambda f: f.attribution.sub_ids.update({f"s{i}": "x" for i in range(51)}), "sub_ids"),
        (lambda f: [f.consents.add(provider="p", reference="r") for _ in range(21)], "consents"),
        (lambda f: f.quality.dimensions.update({f"d{i}": 1 for i in range(51)}), "dimensions"),
        (lambda f: f.attributes.update({f"a{i}": 1 for i in range(101)}), "attributes"),
    ],
)
async def test_every_list_and_map_of_a_feedback_has_a_cap(
    backchannel: RunningServer, fill: object, field: str
) -> None:
    feedback = brief_example_feedback()
    fill(feedback)  # type: ignore[operator]
    violated = await refused_feedback(backchannel, feedback)
    assert [v.rpartition(".")[2] for v in violated] == [field]


def own_connection(address: str) -> grpc.aio.Channel:
    """A channel with a connection of its own (grpc shares one between channels to the
    same address with the same options otherwise)."""
    return grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


def open_stream(channel: grpc.aio.Channel) -> StreamCall:
    stub = feedback_service_pb2_grpc.FeedbackServiceStub(channel)
    return stub.StreamFeedbackEvents(feedback_service_pb2.StreamFeedbackEventsRequest())


async def first_item_or_error(call: StreamCall) -> grpc.aio.AioRpcError | None:
    try:
        await asyncio.wait_for(call.read(), 15)
    except grpc.aio.AioRpcError as error:
        return error
    return None


@pytest.fixture
async def capped(database_url: str) -> AsyncIterator[RunningServer]:
    async with serving(database_url, max_streams_per_caller=2, max_streams=3) as running:
        yield running


async def test_a_caller_past_its_stream_cap_is_refused_until_one_of_its_streams_ends(
    capped: RunningServer,
) -> None:
    # Two channels: one caller is its address, however many connections it opens.
    other = own_connection(capped.address)
    try:
        first, second = open_stream(capped.channel), open_stream(other)
        assert await first_item_or_error(first) is None
        assert await first_item_or_error(second) is None

        refused = await first_item_or_error(open_stream(other))
        assert refused is not None
        error = rich_error(refused)
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.error_info.reason == "TOO_MANY_STREAMS"
        assert error.error_info.metadata["limit"] == "per_caller"
        assert "address 127.0.0.1" in error.status.message

        first.cancel()
        assert await wait_until(lambda: capped.server.open_streams.total == 1, timeout=10), (
            "the cancelled stream still counts"
        )
        assert await first_item_or_error(open_stream(capped.channel)) is None
    finally:
        await other.close()


async def test_streams_past_the_servers_cap_are_refused(database_url: str) -> None:
    async with serving(database_url, max_streams_per_caller=10, max_streams=2) as running:
        held = [open_stream(running.channel) for _ in range(2)]
        for call in held:
            assert await first_item_or_error(call) is None

        refused = await first_item_or_error(open_stream(running.channel))

        assert refused is not None
        error = rich_error(refused)
        assert (error.code, error.error_info.metadata["limit"]) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "total",
        )
        for call in held:
            call.cancel()


async def test_connections_past_the_cap_are_closed_before_their_handshake(
    database_url: str,
) -> None:
    async with serving(database_url, max_connections=1) as running:
        await running.channel.channel_ready()
        second = own_connection(running.address)
        try:
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await second.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5)
            assert failure.value.code() in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            )
        finally:
            await second.close()


async def test_an_idle_connection_is_closed_by_the_server(database_url: str) -> None:
    async with serving(database_url, connection_idle_seconds=0.5) as running:
        await running.channel.channel_ready()
        await running.channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5)

        assert await wait_until(
            lambda: running.channel.get_state() == grpc.ChannelConnectivity.IDLE, timeout=10
        ), running.channel.get_state()
