"""Rotating the secret keys while serving: with a new key first in every server's ring,
``backchannel secrets rotate`` seals every stored secret again under it, one recipient at
a time, while feedback is sent and recipients are updated; nothing fails meanwhile, every
delivery carries the right credentials, and afterwards the old key can be retired."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import asyncpg
from backchannel_client.v1 import (
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
)
from google.protobuf import field_mask_pb2, struct_pb2
from standardwebhooks.webhooks import Webhook
from support.brief_example import brief_example_feedback
from support.in_process_server import RunningServer, serving
from support.receiver import WebhookReceiver
from support.secret_keys import TEST_SECRET_KEYS, key_ring

from backchannel.sealing.key_ring import new_key_entry

BACKCHANNEL = str(Path(sys.executable).with_name("backchannel"))
RECIPIENTS = 40
SIGNING_SECRET = "whsec_" + "cm90YXRpb24tc2lnbmluZy1rZXktMDEyMzQ1Njc4"
NEW_KEY = new_key_entry("test-2")


def token(index: int) -> str:
    return f"tok-rotated-{index:02d}-c41e"


async def create_recipients(
    running: RunningServer, receiver: WebhookReceiver, count: int = RECIPIENTS
) -> None:
    for index in range(count):
        recipient = recipient_pb2.Recipient(
            id=f"r{index:02d}",
            recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
            transport="webhook",
        )
        recipient.transport_settings.update(
            {"url": f"http://127.0.0.1:{receiver.port}/r{index:02d}", "auth": "bearer"}
        )
        recipient.secret_settings.update(
            {"bearer_token": token(index), "signing_secrets": SIGNING_SECRET}
        )
        await running.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
        )


async def rotate(database_url: str, keys: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env.update(BACKCHANNEL_DATABASE_URL=database_url, BACKCHANNEL_SECRET_KEYS=keys)
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, "secrets", "rotate", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def key_ids_of_stored_secrets(database_url: str) -> set[str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT DISTINCT s.value->>'key_id' AS key_id"
            " FROM recipients r, jsonb_each(r.sealed_secrets) s"
        )
    finally:
        await connection.close()
    return {row["key_id"] for row in rows}


async def keep_serving(running: RunningServer, stop: asyncio.Event) -> int:
    """Sends feedback and renames r00 until ``stop``; returns how many feedbacks it sent."""
    sent = 0
    while not stop.is_set():
        await running.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id=f"during-{sent}", feedback=brief_example_feedback()
            )
        )
        await running.recipients.UpdateRecipient(
            recipient_service_pb2.UpdateRecipientRequest(
                recipient=recipient_pb2.Recipient(id="r00", display_name=f"renamed {sent}"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            )
        )
        sent += 1
    return sent


def check_credentials(receiver: WebhookReceiver) -> None:
    for request in receiver.requests:
        index = int(request.path.removeprefix("/r"))
        assert request.headers["authorization"] == f"Bearer {token(index)}", request.path
        Webhook(SIGNING_SECRET).verify(request.body, request.headers)


async def test_rotation_while_serving_seals_everything_under_the_new_key_and_retires_the_old(
    database_url: str, receiver: WebhookReceiver
) -> None:
    async with serving(database_url) as running:
        await create_recipients(running, receiver)
    both = f"{NEW_KEY},{TEST_SECRET_KEYS}"

    async with serving(database_url, secret_keys=key_ring(both)) as running:
        etag = (
            await running.recipients.GetRecipient(
                recipient_service_pb2.GetRecipientRequest(recipient_id="r07")
            )
        ).recipient.etag
        stop = asyncio.Event()
        serving_task = asyncio.create_task(keep_serving(running, stop))
        code, out, err = await rotate(database_url, both)
        stop.set()
        sent = await serving_task
        after = await running.recipients.GetRecipient(
            recipient_service_pb2.GetRecipientRequest(recipient_id="r07")
        )
        await receiver.wait_for(sent * RECIPIENTS, timeout=60)

    assert (code, err) == (0, "")
    # r00 may have been sealed under the new key by an update before rotation reached it.
    assert re.search(r"sealed the secrets of (39|40) recipients again under key 'test-2'", out)
    assert "no stored secret needs key 'test-1' any more" in out
    assert sent > 0
    assert after.recipient.etag == etag
    assert await key_ids_of_stored_secrets(database_url) == {"test-2"}
    check_credentials(receiver)

    async with serving(database_url, secret_keys=key_ring(NEW_KEY)) as running:
        await running.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id="after-retiring", feedback=brief_example_feedback()
            )
        )
        await receiver.wait_for((sent + 1) * RECIPIENTS, timeout=60)
    check_credentials(receiver)


async def test_a_secret_that_does_not_open_is_named_and_the_others_are_rotated(
    database_url: str, receiver: WebhookReceiver
) -> None:
    async with serving(database_url) as running:
        await create_recipients(running, receiver, count=3)
    lost = new_key_entry("lost")
    async with serving(database_url, secret_keys=key_ring(f"{lost},{TEST_SECRET_KEYS}")) as running:
        # r01's secrets given again, so sealed under a key nobody will have any more.
        await running.recipients.UpdateRecipient(
            recipient_service_pb2.UpdateRecipientRequest(
                recipient=recipient_pb2.Recipient(id="r01", secret_settings=struct_of(1)),
                update_mask=field_mask_pb2.FieldMask(paths=["secret_settings"]),
            )
        )

    code, out, err = await rotate(database_url, f"{NEW_KEY},{TEST_SECRET_KEYS}")

    assert code == 1
    assert "of recipient 'r01' is sealed under key id 'lost', which is not configured" in err
    assert "sealed the secrets of 2 recipients again under key 'test-2'" in out
    assert "no stored secret needs key" not in out
    assert await key_ids_of_stored_secrets(database_url) == {"test-2", "lost"}
    assert "tok-rotated" not in out + err


def struct_of(index: int) -> struct_pb2.Struct:
    secrets = struct_pb2.Struct()
    secrets.update({"bearer_token": token(index), "signing_secrets": SIGNING_SECRET})
    return secrets
