"""SendFeedback end to end: durable accept, signed webhook, recorded event."""

from __future__ import annotations

import base64
import json

from backchannel_client.v1 import (
    event_pb2,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
)
from google.protobuf import field_mask_pb2
from standardwebhooks.webhooks import Webhook
from support.brief_example import brief_example_feedback
from support.feedback_calls import wait_for_event
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver
from support.webhook_recipients import create_webhook_recipient


async def test_sent_feedback_reaches_the_webhook_signed_and_is_recorded_as_an_event(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)

    answer = await backchannel.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id="req-1", feedback=brief_example_feedback(), recipient_ids=["acme"]
        )
    )

    [request] = await receiver.wait_for(1)
    [delivery] = answer.deliveries
    Webhook(signing_secret).verify(request.body, request.headers)
    assert request.headers["webhook-id"] == delivery.id
    body = json.loads(request.body)
    assert body["lead_id"] == "LC123456789"
    assert body["outcome"]["value"] == 1250.00
    assert b'"value":1250.00' in request.body
    assert body["quality"] == {
        "overall_score": 85,
        "conversion_likelihood": 80,
        "customer_satisfaction": 88,
        "data_quality": 90,
    }
    event = await wait_for_event(backchannel, answer.feedback.id)
    assert event.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED
    assert event.delivery_id == delivery.id
    assert event.response_status.code == 204
    assert len(event.trace_id) == 32 and len(event.span_id) == 16
    assert event.integration_context.plugin_distribution == "backchannel-webhook"
    assert request.headers["traceparent"].split("-")[1] == event.trace_id


async def test_after_an_update_deliveries_use_the_new_url_and_signing_secret(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    """Transports may keep what they parsed from a recipient's settings; a change to the
    recipient must reach the very next delivery all the same."""
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    first = await backchannel.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id="before", feedback=brief_example_feedback(), recipient_ids=["acme"]
        )
    )
    await wait_for_event(backchannel, first.feedback.id)
    moved = WebhookReceiver()
    await moved.start()
    try:
        new_secret = "whsec_" + base64.b64encode(b"another signing key of 32 bytes!").decode()
        update = recipient_pb2.Recipient(id="acme")
        update.transport_settings.update({"url": moved.url})
        update.secret_settings.update({"signing_secrets": new_secret})
        await backchannel.recipients.UpdateRecipient(
            recipient_service_pb2.UpdateRecipientRequest(
                recipient=update,
                update_mask=field_mask_pb2.FieldMask(
                    paths=["transport_settings", "secret_settings"]
                ),
            )
        )
        second = await backchannel.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id="after", feedback=brief_example_feedback(), recipient_ids=["acme"]
            )
        )
        event = await wait_for_event(backchannel, second.feedback.id)

        assert event.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED
        assert len(receiver.requests) == 1
        [request] = moved.requests
        Webhook(new_secret).verify(request.body, request.headers)
    finally:
        await moved.stop()
