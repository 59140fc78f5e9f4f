"""The requests a fuzzer turned into INTERNAL (each with a traceback in the log) are
INVALID_ARGUMENT naming the field, and change nothing: a Timestamp with nanos out of range
in RecoverDeliveries, a NUL in GetFeedback's id, NaN and infinity inside a recipient's
settings Struct, and NUL in StreamFeedbackEvents' filter fields with events to replay.
Against a real server and Postgres, with an event in the log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import grpc
import pytest
from backchannel_client.v1 import (
    delivery_service_pb2,
    delivery_service_pb2_grpc,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
)
from support.database_rows import table_fingerprints
from support.feedback_calls import send_feedback, wait_for_event
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver
from support.rpc_errors import RichError, rich_error
from support.webhook_recipients import create_webhook_recipient


@pytest.fixture
async def with_an_event(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> AsyncIterator[RunningServer]:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    sent = await send_feedback(backchannel, "guard-1", ["acme"])
    await wait_for_event(backchannel, sent.feedback.id)
    yield backchannel


async def refused_changing_nothing(
    running: RunningServer, call: Callable[[], Awaitable[Any]]
) -> RichError:
    connection = await asyncpg.connect(running.server.database_url)
    try:
        before = await table_fingerprints(connection)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await call()
        error = rich_error(failure.value)
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error.status.message
        assert await table_fingerprints(connection) == before
        return error
    finally:
        await connection.close()


async def test_a_timestamp_with_nanos_out_of_range_in_recover_deliveries_is_invalid(
    with_an_event: RunningServer,
) -> None:
    stub = delivery_service_pb2_grpc.DeliveryServiceStub(with_an_event.channel)
    request = delivery_service_pb2.RecoverDeliveriesRequest(recipient_id="acme", requested_by="me")
    request.start_time.nanos = 10**9
    request.end_time.seconds = 2_000_000_000

    error = await refused_changing_nothing(with_an_event, lambda: stub.RecoverDeliveries(request))

    assert error.violated_fields == ["start_time"]


async def test_a_nul_in_get_feedbacks_id_is_invalid(with_an_event: RunningServer) -> None:
    request = feedback_service_pb2.GetFeedbackRequest(feedback_id="fb_\x00")

    error = await refused_changing_nothing(
        with_an_event, lambda: with_an_event.feedback.GetFeedback(request)
    )

    assert error.violated_fields == ["feedback_id"]


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
async def test_a_non_finite_number_in_a_settings_struct_is_invalid(
    with_an_event: RunningServer, receiver: WebhookReceiver, number: float
) -> None:
    recipient = recipient_pb2.Recipient(
        id="other",
        recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE,
        transport="webhook",
        format="json",
    )
    recipient.transport_settings.update({"url": receiver.url, "timeout_seconds": number})
    request = recipient_service_pb2.CreateRecipientRequest(recipient=recipient)

    error = await refused_changing_nothing(
        with_an_event, lambda: with_an_event.recipients.CreateRecipient(request)
    )

    assert error.violated_fields == ["recipient.transport_settings.timeout_seconds"]


@pytest.mark.parametrize(
    ("event_filter", "field"),
    [
        (feedback_service_pb2.EventFilter(lead_id="LC\x00"), "filter.lead_id"),
        (feedback_service_pb2.EventFilter(source_id="\x00"), "filter.source_id"),
        (feedback_service_pb2.EventFilter(feedback_id="fb\x00"), "filter.feedback_id"),
        (
            feedback_service_pb2.EventFilter(recipient_ids=["acme", "a\x00"]),
            "filter.recipient_ids[1]",
        ),
        (feedback_service_pb2.EventFilter(expression='lead_id = "\x00"'), "filter.expression"),
    ],
)
async def test_a_nul_in_a_stream_filter_field_is_invalid_with_events_to_replay(
    with_an_event: RunningServer, event_filter: feedback_service_pb2.EventFilter, field: str
) -> None:
    request = feedback_service_pb2.StreamFeedbackEventsRequest(
        filter=event_filter, from_beginning=True
    )

    async def first_item() -> None:
        async for _ in with_an_event.feedback.StreamFeedbackEvents(request):
            return

    error = await refused_changing_nothing(with_an_event, first_item)

    assert error.violated_fields == [field]


async def test_a_nul_in_list_filter_text_is_invalid(with_an_event: RunningServer) -> None:
    request = feedback_service_pb2.ListFeedbackEventsRequest(filter='lead_id = "LC\x00"')

    error = await refused_changing_nothing(
        with_an_event, lambda: with_an_event.feedback.ListFeedbackEvents(request)
    )

    assert error.violated_fields == ["filter"]
