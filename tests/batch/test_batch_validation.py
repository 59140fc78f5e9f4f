"""Bad batch settings are refused when the recipient is saved, every violation at once,
and nothing is stored; rows that fail validation before a file is sent are left out (each
such feedback failed with its reason) or hold the whole file, as the recipient chose."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from backchannel_client.v1 import (
    batch_pb2,
    event_pb2,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
    recipient_pb2,
)
from support.batch_calls import batch_recipient, create, finished, run_now, send_feedback
from support.brief_example import brief_example_feedback
from support.database_rows import count_rows
from support.in_process_server import RunningServer, serving
from support.openpgp_keys import Keyring
from support.polling import eventually
from support.receiver import WebhookReceiver
from support.rpc_errors import rich_error


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[RunningServer]:
    async with serving(database_url) as running:
        yield running


async def test_every_bad_batch_setting_is_refused_at_once_and_nothing_is_stored(
    server: RunningServer, database_url: str, keyring: Keyring
) -> None:
    expired = keyring.make_key("old@example.com", expires="1d", faked_time="20200101T000000")
    recipient = batch_recipient(
        "bad",
        "webhook",
        {"url": "http://127.0.0.1:9/x"},
        {},
        {
            "schedule": {"cron": "61 25 * * *", "timeZone": "Mars/Olympus_Mons"},
            "file": {"nameTemplate": "../{recipient_id}/x.{ext}"},
            "encryption": {"publicKey": keyring.public_key(expired)},
            "requiredFields": ["outcome.nothing"],
        },
        {"fields": ["lead_id", "no_such_column"]},
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await create(server.channel, recipient)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = rich_error(refused.value)
    assert error.bad_request is not None
    described = {v.field: v.description for v in error.bad_request.field_violations}
    fields = set(described)
    assert {
        "recipient.batch.schedule.cron",
        "recipient.batch.schedule.time_zone",
        "recipient.batch.file.name_template",
        "recipient.batch.encryption.public_key",
        "recipient.format_options.fields[1]",
        "recipient.batch.required_fields[0]",
    } <= fields, fields
    assert "expired" in described["recipient.batch.encryption.public_key"]
    assert (await count_rows(database_url, "recipients"))["recipients"] == 0


async def test_a_public_key_that_does_not_parse_is_refused(server: RunningServer) -> None:
    recipient = batch_recipient(
        "bad",
        "webhook",
        {"url": "http://127.0.0.1:9/x"},
        {},
        {
            "schedule": {"cron": "0 2 * * *"},
            "encryption": {"publicKey": "-----BEGIN PGP PUBLIC KEY BLOCK-----\nnope\n"},
        },
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await create(server.channel, recipient)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "recipient.batch.encryption.public_key" in rich_error(refused.value).violated_fields


def _rows_with_required_value(receiver_url: str, invalid_rows: str) -> recipient_pb2.Recipient:
    return batch_recipient(
        "strict",
        "webhook",
        {"url": receiver_url},
        {},
        {
            "schedule": {"cron": "0 2 * * *"},
            "invalidRows": invalid_rows,
            "requiredFields": ["outcome.value"],
        },
        {"fields": ["lead_id", "outcome.value"]},
    )


async def _send_without_value(server: RunningServer) -> str:
    feedback = brief_example_feedback()
    feedback.lead.lead_id = "no-value"
    feedback.outcome.ClearField("value")
    stub = feedback_service_pb2_grpc.FeedbackServiceStub(server.channel)
    answer = await stub.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id="no-value-1", feedback=feedback, recipient_ids=["strict"]
        )
    )
    return answer.feedback.id


async def test_skip_leaves_invalid_rows_out_and_fails_their_feedback_with_the_reason(
    server: RunningServer, receiver: WebhookReceiver
) -> None:
    await create(server.channel, _rows_with_required_value(receiver.url, "BATCH_INVALID_ROWS_SKIP"))
    await send_feedback(server.channel, "strict", 3)
    bad = await _send_without_value(server)
    batch = await run_now(server.channel, "strict")
    done = await finished(server.channel, batch.id)
    assert done.batch.state == batch_pb2.BATCH_STATE_SUCCEEDED
    assert (done.batch.row_count, done.batch.excluded_count) == (3, 1)
    [excluded] = done.batch.excluded
    assert excluded.feedback_id == bad and "outcome.value" in excluded.reason
    [request] = await receiver.wait_for(1)
    assert b"no-value" not in request.body and request.body.count(b"lead-") == 3
    stub = feedback_service_pb2_grpc.FeedbackServiceStub(server.channel)
    answer = await stub.GetFeedback(feedback_service_pb2.GetFeedbackRequest(feedback_id=bad))
    [delivery] = answer.deliveries
    assert delivery.state == feedback_service_pb2.DELIVERY_STATE_FAILED
    [event] = delivery.attempts
    assert event.processing_status == event_pb2.PROCESSING_STATUS_FAILED
    assert event.batch.batch_id == batch.id and "required field outcome.value" in (
        event.response_status.excerpt
    )


async def test_hold_holds_the_whole_file_and_an_operator_event_says_why(
    server: RunningServer, receiver: WebhookReceiver
) -> None:
    await create(server.channel, _rows_with_required_value(receiver.url, "BATCH_INVALID_ROWS_HOLD"))
    await send_feedback(server.channel, "strict", 2)
    await _send_without_value(server)
    batch = await run_now(server.channel, "strict")
    done = await finished(server.channel, batch.id)
    assert done.batch.state == batch_pb2.BATCH_STATE_HELD
    assert "1 rows failed validation" in done.batch.reason
    assert receiver.requests == []
    stub = feedback_service_pb2_grpc.FeedbackServiceStub(server.channel)

    found = await eventually(_operator_events(stub), timeout=10)
    assert found[0].type == event_pb2.OPERATOR_EVENT_TYPE_BATCH_HELD
    assert batch.id in found[0].message


def _operator_events(
    stub: feedback_service_pb2_grpc.FeedbackServiceStub,
) -> Callable[[], Awaitable[list[event_pb2.OperatorEvent] | None]]:
    async def check() -> list[event_pb2.OperatorEvent] | None:
        found: list[event_pb2.OperatorEvent] = []
        call = stub.StreamFeedbackEvents(
            feedback_service_pb2.StreamFeedbackEventsRequest(
                from_beginning=True,
                filter=feedback_service_pb2.EventFilter(
                    recipient_ids=["strict"], include_operator_events=True
                ),
            )
        )
        try:
            async for item in call:
                if item.HasField("operator_event"):
                    found.append(item.operator_event)
                    return found
                if item.HasField("heartbeat"):
                    return None
        finally:
            call.cancel()
        return None

    return check


async def test_signing_is_refused_when_the_server_has_no_key_to_sign_with(
    server: RunningServer, keyring: Keyring
) -> None:
    key = keyring.public_key(keyring.make_key("signed@example.com"))
    recipient = batch_recipient(
        "signed",
        "webhook",
        {"url": "http://127.0.0.1:9/x"},
        {},
        {"schedule": {"cron": "0 2 * * *"}, "encryption": {"publicKey": key, "sign": True}},
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await create(server.channel, recipient)
    assert rich_error(refused.value).violated_fields == ["recipient.batch.encryption.sign"]
