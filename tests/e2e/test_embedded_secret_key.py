"""The zero-configuration default: with no database URL and no key configured, `backchannel
serve` starts its embedded Postgres and creates a key file in the data folder (mode 0600),
saying so in the log once; its delivery process (a child of serve) opens secrets with the
same key; a restart uses the same file."""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from backchannel_client.v1 import feedback_service_pb2, recipient_pb2, recipient_service_pb2
from support.brief_example import brief_example_feedback
from support.polling import eventually
from support.receiver import WebhookReceiver
from support.server_process import ServerLauncher, ServerProcess

from backchannel.sealing.key_file import EMBEDDED_KEY_FILE

TOKEN = "tok-embedded-default-58ae"
CREATED = "created the secret key file"


async def delivered(server: ServerProcess, receiver: WebhookReceiver, request_id: str) -> None:
    before = len(receiver.requests)
    await server.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id=request_id, feedback=brief_example_feedback()
        )
    )

    async def arrived() -> bool:
        return len(receiver.requests) > before

    await eventually(arrived, timeout=30)
    assert receiver.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.fixture
def data_folder() -> Iterator[Path]:
    """A folder for the embedded Postgres outside pytest's temporary folders: pytest makes
    those private to root (0700) again whenever a test session starts, which would take
    them away from the Postgres user in the middle of a test."""
    folder = Path(tempfile.mkdtemp(prefix="backchannel-embedded-"))
    try:
        yield folder / "data"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_the_embedded_default_makes_a_key_file_once_and_delivers_with_it(
    data_folder: Path, receiver: WebhookReceiver
) -> None:
    data = data_folder
    defaults = {"secret_keys": "", "data_dir": data, "delivery_processes": 1}
    async with ServerLauncher("", **defaults) as launcher:
        first = await launcher.start()
        recipient = recipient_pb2.Recipient(
            id="acme",
            recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
            transport="webhook",
        )
        recipient.transport_settings.update({"url": receiver.url, "auth": "bearer"})
        recipient.secret_settings.update({"bearer_token": TOKEN})
        await first.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
        )
        await delivered(first, receiver, "first")
        assert await first.terminate(30) == 0
        second = await launcher.start()
        await delivered(second, receiver, "second")
        assert await second.terminate(30) == 0

    key_file = data / EMBEDDED_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.log().count(CREATED) == 1
    assert f"{CREATED} {key_file}" in first.log()
    assert CREATED not in second.log()
    assert TOKEN not in first.log() + second.log()
