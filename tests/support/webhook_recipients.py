"""Webhook recipients as the tests create them: through RecipientService on a running
server, or as the proto JSON the clients take."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from backchannel_client.v1 import recipient_pb2, recipient_service_pb2

from support.in_process_server import RunningServer
from support.receiver import Received, WebhookReceiver


async def create_webhook_recipient(
    running: RunningServer, recipient_id: str, url: str, secret: str, **extra: object
) -> recipient_pb2.Recipient:
    """A source recipient posting JSON to ``url`` signed with ``secret``; ``extra`` sets
    more Recipient fields (messages are copied in)."""
    recipient = recipient_pb2.Recipient(
        id=recipient_id,
        recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE,
        transport="webhook",
        format="json",
    )
    recipient.transport_settings.update({"url": url})
    recipient.secret_settings.update({"signing_secrets": secret})
    for key, value in extra.items():
        getattr(recipient, key).CopyFrom(value) if hasattr(value, "DESCRIPTOR") else setattr(
            recipient, key, value
        )
    response = await running.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
    )
    return response.recipient


async def create_ok_and_refusing_recipients(
    running: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    """Recipient "ok" accepts (SUCCEEDED); "refusing" is answered 400 (FAILED)."""

    def answer(request: Received) -> web.StreamResponse:
        return web.Response(status=400 if request.path == "/refuse" else 204)

    receiver.respond = answer
    await create_webhook_recipient(running, "ok", receiver.url, signing_secret)
    refusing_url = f"http://127.0.0.1:{receiver.port}/refuse"
    await create_webhook_recipient(running, "refusing", refusing_url, signing_secret)


def webhook_recipient(recipient_id: str, url: str, secret: str) -> dict[str, Any]:
    """The same recipient as ``create_webhook_recipient`` makes, in proto JSON."""
    return {
        "id": recipient_id,
        "recipientType": "RECIPIENT_TYPE_SOURCE",
        "transport": "webhook",
        "format": "json",
        "transportSettings": {"url": url},
        "secretSettings": {"signing_secrets": secret},
    }
