"""TestRecipient checks a recipient's settings for real and says which step failed."""

from __future__ import annotations

import socket

import grpc
import pytest
from backchannel_client.v1 import recipient_pb2, recipient_service_pb2
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver
from support.webhook_recipients import create_webhook_recipient


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_a_stored_recipient_passes_when_its_endpoint_accepts_a_test_message(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "tested", receiver.url, signing_secret)

    answer = await backchannel.recipients.TestRecipient(
        recipient_service_pb2.TestRecipientRequest(recipient_id="tested")
    )

    assert answer.passed
    assert [s.name for s in answer.steps] == ["settings", "connect", "test message"]
    [request] = receiver.requests
    assert b"backchannel.test" in request.body


async def test_an_unreachable_endpoint_fails_at_the_connect_step(
    backchannel: RunningServer, signing_secret: str
) -> None:
    unsaved = recipient_pb2.Recipient(
        id="unsaved", recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER, transport="webhook"
    )
    unsaved.transport_settings.update({"url": f"http://127.0.0.1:{closed_port()}/hook"})

    answer = await backchannel.recipients.TestRecipient(
        recipient_service_pb2.TestRecipientRequest(recipient=unsaved)
    )

    assert not answer.passed
    assert (answer.steps[-1].name, answer.steps[-1].passed) == ("connect", False)
    assert answer.steps[-1].detail


async def test_an_unsaved_recipient_with_bad_settings_is_invalid_argument(
    backchannel: RunningServer,
) -> None:
    unsaved = recipient_pb2.Recipient(
        id="unsaved", recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER, transport="webhook"
    )
    unsaved.transport_settings.update({"url": "not a url"})

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await backchannel.recipients.TestRecipient(
            recipient_service_pb2.TestRecipientRequest(recipient=unsaved)
        )

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_unknown_recipient_is_not_found(backchannel: RunningServer) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await backchannel.recipients.TestRecipient(
            recipient_service_pb2.TestRecipientRequest(recipient_id="nobody")
        )

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
