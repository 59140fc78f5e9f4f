"""SendFeedback chooses recipients from the server's view of the recipient directory, and
the statement storing the feedback checks that the directory has not changed since. A
change the server was never told about (written straight into the database, so no
notification reaches it) must still be seen by the next request."""

from __future__ import annotations

import asyncpg
import grpc
from backchannel_client.v1 import feedback_service_pb2
from support.brief_example import brief_example_feedback
from support.database_rows import count_rows
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver
from support.rpc_errors import rich_error
from support.webhook_recipients import create_webhook_recipient

SendFeedbackRequest = feedback_service_pb2.SendFeedbackRequest


async def change_unannounced(database_url: str, statement: str) -> None:
    """Changes recipients behind the server's back: the trigger moves the directory
    version, but nothing notifies the server."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def test_a_recipient_disabled_behind_the_servers_back_is_refused_and_nothing_stored(
    backchannel: RunningServer,
    receiver: WebhookReceiver,
    signing_secret: str,
    database_url: str,
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    request = SendFeedbackRequest(
        request_id="before", feedback=brief_example_feedback(), recipient_ids=["acme"]
    )
    await backchannel.feedback.SendFeedback(request)  # the server's view now knows acme
    await change_unannounced(database_url, "UPDATE recipients SET state = 'disabled'")

    request.request_id = "after"
    try:
        await backchannel.feedback.SendFeedback(request)
    except grpc.aio.AioRpcError as error:
        refusal = rich_error(error)
    else:
        raise AssertionError("SendFeedback named a disabled recipient and was accepted")

    assert refusal.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refusal.error_info.reason == "RECIPIENT_DISABLED"
    assert await count_rows(database_url, "feedback", "deliveries") == {
        "feedback": 1,
        "deliveries": 1,
    }


async def test_a_subscription_changed_behind_the_servers_back_chooses_the_new_subscribers(
    backchannel: RunningServer,
    receiver: WebhookReceiver,
    signing_secret: str,
    database_url: str,
) -> None:
    await create_webhook_recipient(backchannel, "old-subscriber", receiver.url, signing_secret)
    await create_webhook_recipient(backchannel, "new-subscriber", receiver.url, signing_secret)
    await change_unannounced(
        database_url,
        "UPDATE recipients SET subscribed_source_ids = '{ELSEWHERE}' WHERE id = 'new-subscriber'",
    )
    request = SendFeedbackRequest(request_id="before", feedback=brief_example_feedback())
    before = await backchannel.feedback.SendFeedback(request)
    assert [d.recipient_id for d in before.deliveries] == ["old-subscriber"]

    await change_unannounced(
        database_url,
        "UPDATE recipients SET subscribed_source_ids = CASE id "
        "WHEN 'old-subscriber' THEN '{ELSEWHERE}'::text[] ELSE '{}'::text[] END",
    )
    request.request_id = "after"
    after = await backchannel.feedback.SendFeedback(request)

    assert [d.recipient_id for d in after.deliveries] == ["new-subscriber"]
    # The answer a repeat gets is the one stored: it names the new subscriber too.
    again = await backchannel.feedback.SendFeedback(request)
    assert again == after
    assert await count_rows(database_url, "feedback", "deliveries") == {
        "feedback": 2,
        "deliveries": 2,
    }
