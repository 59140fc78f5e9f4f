"""The keys that seal secrets, as a server meets them: it refuses to start when stored
secrets need a key it lacks (naming the key id) or the key under an id is not the one
they were sealed with; it refuses to store secrets without a key; and a sealed value
moved to another recipient's row does not open, so nothing is sent with it."""

from __future__ import annotations

import logging

import asyncpg
import grpc
import pytest
from backchannel_client.v1 import feedback_service_pb2, recipient_pb2, recipient_service_pb2
from support.brief_example import brief_example_feedback
from support.feedback_calls import wait_for_event
from support.in_process_server import serving, settings_for_test
from support.receiver import WebhookReceiver
from support.recipient_calls import create, struct
from support.rpc_errors import rich_error
from support.secret_keys import key_ring
from support.server_process import ServerLauncher

from backchannel.app import BackchannelServer
from backchannel.sealing.key_ring import KeyRing, new_key_entry
from backchannel.sealing.stored_keys_check import StoredSecretsError

TOKEN_A = "tok-of-recipient-a-3f9c"
TOKEN_B = "tok-of-recipient-b-71d2"


def bearer_recipient(recipient_id: str, url: str, token: str) -> recipient_pb2.Recipient:
    return recipient_pb2.Recipient(
        id=recipient_id,
        recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
        transport="webhook",
        transport_settings=struct({"url": url, "auth": "bearer"}),
        secret_settings=struct({"bearer_token": token}),
        subscription=recipient_pb2.Subscription(source_ids=[f"src-{recipient_id}"]),
    )


async def start_refused(database_url: str, ring: KeyRing) -> str:
    """The message a server with ``ring`` refuses to start with."""
    server = BackchannelServer(settings_for_test(database_url, secret_keys=ring))
    try:
        with pytest.raises(StoredSecretsError) as refused:
            await server.start()
    finally:
        await server.stop()
    return str(refused.value)


@pytest.fixture
async def sealed_under_test_key(database_url: str, receiver: WebhookReceiver) -> str:
    """The database with one recipient whose token is sealed under the key "test-1"."""
    async with serving(database_url) as running:
        await create(running, bearer_recipient("acme", receiver.url, TOKEN_A))
    return database_url


async def test_stored_secrets_without_a_key_stop_start_up_naming_the_key_id(
    sealed_under_test_key: str,
) -> None:
    message = await start_refused(sealed_under_test_key, KeyRing())

    assert "sealed under key id 'test-1'" in message
    assert "no secret key is configured" in message


async def test_stored_secrets_under_a_retired_key_stop_start_up_naming_the_key_id(
    sealed_under_test_key: str,
) -> None:
    message = await start_refused(sealed_under_test_key, key_ring(new_key_entry("test-2")))

    assert "sealed under key id 'test-1'" in message
    assert "configured: 'test-2'" in message


async def test_another_key_under_the_same_id_stops_start_up(sealed_under_test_key: str) -> None:
    message = await start_refused(sealed_under_test_key, key_ring(new_key_entry("test-1")))

    assert "no stored secret sealed under key id 'test-1' opens" in message


async def test_backchannel_serve_exits_with_a_configuration_error_naming_the_key_id(
    sealed_under_test_key: str,
) -> None:
    async with ServerLauncher(sealed_under_test_key) as launcher:
        with pytest.raises(RuntimeError) as refused:
            await launcher.start(secret_keys=new_key_entry("test-2"))
        [process] = launcher.started

    assert process.process.returncode == 3
    assert "secret keys: stored secrets are sealed under key id 'test-1'" in str(refused.value)


async def test_secrets_cannot_be_stored_without_a_key_and_other_recipients_can(
    database_url: str, receiver: WebhookReceiver
) -> None:
    async with serving(database_url, secret_keys=KeyRing()) as running:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await create(running, bearer_recipient("acme", receiver.url, TOKEN_A))
        plain = bearer_recipient("plain", receiver.url, TOKEN_A)
        plain.transport_settings.update({"auth": "none"})
        plain.ClearField("secret_settings")
        await create(running, plain)

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(refused.value).error_info.reason == "SECRET_KEYS_NOT_CONFIGURED"
    assert "BACKCHANNEL_SECRET_KEYS" in (refused.value.details() or "")


async def test_a_sealed_value_moved_to_another_row_does_not_open_and_nothing_is_sent(
    database_url: str, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(database_url) as running:
        await create(running, bearer_recipient("acme", receiver.url, TOKEN_A))
        await create(running, bearer_recipient("bravo", receiver.url, TOKEN_B))
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute(
                "UPDATE recipients SET sealed_secrets = (SELECT sealed_secrets FROM recipients"
                " WHERE id = 'acme') WHERE id = 'bravo'"
            )
        finally:
            await connection.close()
        tested = await running.recipients.TestRecipient(
            recipient_service_pb2.TestRecipientRequest(recipient_id="bravo")
        )
        feedback = brief_example_feedback()
        feedback.lead.source_id = "src-bravo"
        sent = await running.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(request_id="moved", feedback=feedback)
        )
        event = await wait_for_event(running, sent.feedback.id)

    assert not tested.passed
    [step] = tested.steps
    assert step.name == "secrets"
    assert "'bearer_token' of recipient 'bravo' does not open with key 'test-1'" in step.detail
    assert event.response_status.excerpt.startswith("not sent: secret setting 'bearer_token'")
    assert receiver.requests == []
    with caplog.at_level(logging.ERROR):
        async with serving(database_url):  # one bad value does not stop start-up ...
            pass
    # ... but it is named in the log.
    assert "of recipient 'bravo' does not open" in caplog.text
