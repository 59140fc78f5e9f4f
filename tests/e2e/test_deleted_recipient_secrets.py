"""A deleted recipient keeps its row (its deliveries and events still point at it), but
none of its secrets: nothing is left to read from the database, a backup or a dump."""

from __future__ import annotations

from backchannel_client.v1 import recipient_pb2, recipient_service_pb2
from support.database_rows import recipient_row
from support.in_process_server import RunningServer
from support.recipient_calls import struct

TOKEN = "tok-of-a-deleted-recipient-19ad"
SIGNING_SECRET = "whsec_RGVsZXRlZFJlY2lwaWVudFNpZ25pbmdLZXkwMTIz"


async def test_deleting_a_recipient_deletes_its_secrets_from_its_row(
    backchannel: RunningServer, database_url: str
) -> None:
    await backchannel.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(
            recipient=recipient_pb2.Recipient(
                id="gone",
                recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
                transport="webhook",
                transport_settings=struct({"url": "http://127.0.0.1:9/hook", "auth": "bearer"}),
                secret_settings=struct({"bearer_token": TOKEN, "signing_secrets": SIGNING_SECRET}),
            )
        )
    )
    assert "bearer_token" in await recipient_row(database_url, "gone")

    await backchannel.recipients.DeleteRecipient(
        recipient_service_pb2.DeleteRecipientRequest(recipient_id="gone")
    )

    row = await recipient_row(database_url, "gone")
    assert '"delete_time": null' not in row
    for trace_of_a_secret in ("bearer_token", "signing_secrets", TOKEN, SIGNING_SECRET):
        assert trace_of_a_secret not in row
