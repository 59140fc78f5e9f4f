"""Subjects' data keys follow the key ring like recipients' secrets: ``backchannel secrets
rotate`` seals them again under the newest key (so the old key can be retired and a held
delivery still opens its subject), and a server missing a key some subject needs refuses
to start rather than fail those deliveries later."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg
import pytest
from backchannel_client.v1 import feedback_pb2, feedback_service_pb2, recipient_pb2
from support.brief_example import brief_example_feedback
from support.in_process_server import RunningServer, serving, settings_for_test
from support.receiver import WebhookReceiver
from support.recipient_calls import update
from support.secret_keys import TEST_SECRET_KEYS, key_ring
from support.webhook_recipients import create_webhook_recipient

from backchannel.app import BackchannelServer
from backchannel.sealing.key_ring import new_key_entry
from backchannel.sealing.rotation import rotate_secrets
from backchannel.sealing.stored_keys_check import StoredSecretsError
from backchannel.store.database import create_pool

BACKCHANNEL = str(Path(sys.executable).with_name("backchannel"))
NEW_KEY = new_key_entry("test-2")
BOTH = f"{NEW_KEY},{TEST_SECRET_KEYS}"
EMAIL = "rotated.subject@example.com"


async def _held_feedback_with_a_subject(
    running: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    """A paused recipient allowed the raw email, and a feedback with a subject held for it."""
    await create_webhook_recipient(
        running, "crm", receiver.url, signing_secret,
        state=recipient_pb2.RECIPIENT_STATE_PAUSED,
        data_policy=recipient_pb2.DataPolicy(
            allowed_fields=["lead_id", "subject.email"],
            subject_access=recipient_pb2.SUBJECT_ACCESS_RAW,
        ),
    )  # fmt: skip
    feedback = brief_example_feedback()
    feedback.subject.CopyFrom(feedback_pb2.Subject(email=EMAIL))
    await running.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id="held", feedback=feedback, recipient_ids=["crm"]
        )
    )


async def _rotate(database_url: str, keys: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env.update(BACKCHANNEL_DATABASE_URL=database_url, BACKCHANNEL_SECRET_KEYS=keys)
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, "secrets", "rotate", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_rotation_seals_subject_keys_again_and_the_old_key_can_go(
    database_url: str, receiver: WebhookReceiver, signing_secret: str
) -> None:
    async with serving(database_url) as running:
        await _held_feedback_with_a_subject(running, receiver, signing_secret)

    code, out, err = await _rotate(database_url, BOTH)
    connection = await asyncpg.connect(database_url)
    try:
        key_ids = {
            row["key_id"] for row in await connection.fetch("SELECT key_id FROM subject_keys")
        }
    finally:
        await connection.close()

    assert (code, err) == (0, "")
    assert "sealed the data keys of 1 feedback subjects again" in out
    assert "no stored secret needs key 'test-1' any more" in out
    assert key_ids == {"test-2"}
    async with serving(database_url, secret_keys=key_ring(NEW_KEY)) as running:
        active = recipient_pb2.Recipient(id="crm", state=recipient_pb2.RECIPIENT_STATE_ACTIVE)
        await update(running, active, "state")
        (request,) = await receiver.wait_for(1)
    assert json.loads(request.body)["subject"] == {"email": EMAIL}


async def test_a_server_without_a_key_some_subject_needs_refuses_to_start(
    database_url: str, receiver: WebhookReceiver, signing_secret: str
) -> None:
    async with serving(database_url) as running:
        await _held_feedback_with_a_subject(running, receiver, signing_secret)
    # Only the recipients' secrets move to the new key: the subject's stays under test-1.
    pool = await create_pool(database_url, 2)
    try:
        await rotate_secrets(pool, key_ring(BOTH))
    finally:
        await pool.close()

    server = BackchannelServer(settings_for_test(database_url, secret_keys=key_ring(NEW_KEY)))
    try:
        with pytest.raises(StoredSecretsError) as refused:
            await server.start()
    finally:
        await server.stop()

    assert "'test-1'" in str(refused.value)
