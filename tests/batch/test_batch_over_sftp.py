"""A nightly encrypted, gzipped CSV over SFTP, end to end against real parts: a real
server and Postgres, OpenSSH's sshd (the file read back with OpenSSH's sftp client), GnuPG
decrypting and verifying it, and the audit trail of each feedback it carried."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backchannel_client.v1 import (
    batch_pb2,
    event_pb2,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
)
from support.batch_calls import batch_recipient, create, finished, run_now, send_feedback
from support.in_process_server import RunningServer, serving
from support.openpgp_keys import Keyring
from support.polling import eventually
from support.sftp_client import sftp_get, sftp_settings
from support.sftp_server import SshServer

FEEDBACK = 7


@pytest.fixture(scope="module")
def recipient_key(keyring: Keyring) -> str:
    return keyring.make_key("warehouse@example.com")


@pytest.fixture(scope="module")
def signing_key_file(keyring: Keyring, tmp_path_factory: pytest.TempPathFactory) -> Path:
    fingerprint = keyring.make_key("backchannel@example.com")
    path = tmp_path_factory.mktemp("signing") / "backchannel.asc"
    path.write_text(keyring.secret_key(fingerprint))
    return path


@pytest.fixture
async def server(database_url: str, signing_key_file: Path) -> AsyncIterator[RunningServer]:
    async with serving(database_url, batch_signing_key_file=str(signing_key_file)) as running:
        yield running


def nightly(public_key: str, *, sign: bool) -> dict[str, object]:
    return {
        "schedule": {"cron": "0 2 * * *", "timeZone": "America/New_York"},
        "file": {
            "format": "BATCH_FILE_FORMAT_CSV",
            "compression": "BATCH_COMPRESSION_GZIP",
            "nameTemplate": "feedback-{recipient_id}-{sequence:04d}.{ext}",
            "doneMarker": True,
            "manifest": True,
        },
        "encryption": {"publicKey": public_key, "sign": sign},
    }


async def test_the_file_gnupg_decrypts_holds_every_feedback_once_and_is_signed(
    server: RunningServer,
    sshd: SshServer,
    remote_dir: Path,
    keyring: Keyring,
    recipient_key: str,
    tmp_path: Path,
) -> None:
    await create(
        server.channel,
        batch_recipient(
            "warehouse",
            "sftp",
            sftp_settings(sshd, remote_dir),
            {"password": sshd.account.password},
            nightly(keyring.public_key(recipient_key), sign=True),
            {"fields": ["lead_id", "outcome.value", "feedback_date"]},
        ),
    )
    ids = await send_feedback(server.channel, "warehouse", FEEDBACK)
    batch = await run_now(server.channel, "warehouse")
    done = await finished(server.channel, batch.id)
    assert done.batch.state == batch_pb2.BATCH_STATE_SUCCEEDED, done
    assert done.batch.file_name == "feedback-warehouse-0001.csv.gz.pgp"
    assert done.batch.row_count == FEEDBACK

    remote = remote_dir / done.batch.file_name
    data = await sftp_get(sshd, str(remote), tmp_path / "file")
    assert hashlib.sha256(data).hexdigest() == done.batch.sha256
    assert len(data) == done.batch.size
    decrypted = keyring.decrypt(data)
    assert decrypted.valid_signatures, "GnuPG verified no signature"
    rows = list(csv.reader(io.StringIO(gzip.decompress(decrypted.plaintext).decode())))
    assert rows[0] == ["lead_id", "outcome.value", "feedback_date"]
    assert sorted(row[0] for row in rows[1:]) == sorted(f"lead-{n}" for n in range(FEEDBACK))
    assert {row[1] for row in rows[1:]} == {"1250.00"}

    manifest = json.loads(await sftp_get(sshd, f"{remote}.manifest.json", tmp_path / "manifest"))
    assert manifest["rows"] == FEEDBACK and manifest["sha256"] == done.batch.sha256
    assert (remote_dir / f"{done.batch.file_name}.done").exists()
    assert len(ids) == FEEDBACK


async def test_each_feedback_shows_the_batch_that_carried_it_and_its_outcome(
    server: RunningServer, sshd: SshServer, remote_dir: Path, keyring: Keyring, recipient_key: str
) -> None:
    await create(
        server.channel,
        batch_recipient(
            "warehouse",
            "sftp",
            sftp_settings(sshd, remote_dir),
            {"password": sshd.account.password},
            nightly(keyring.public_key(recipient_key), sign=False),
        ),
    )
    [feedback_id] = await send_feedback(server.channel, "warehouse", 1, prefix="audited")
    feedback = feedback_service_pb2_grpc.FeedbackServiceStub(server.channel)
    before = await feedback.GetFeedback(
        feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
    )
    assert before.deliveries[0].state == feedback_service_pb2.DELIVERY_STATE_AWAITING_BATCH
    batch = await run_now(server.channel, "warehouse")
    await finished(server.channel, batch.id)

    async def settled() -> feedback_service_pb2.GetFeedbackResponse | None:
        answer = await feedback.GetFeedback(
            feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
        )
        state = answer.deliveries[0].state
        return answer if state == feedback_service_pb2.DELIVERY_STATE_SUCCEEDED else None

    answer = await eventually(settled)
    delivery = answer.deliveries[0]
    assert delivery.batch.id == batch.id
    assert delivery.batch.state == batch_pb2.BATCH_STATE_SUCCEEDED
    [event] = delivery.attempts
    assert event.aggregation_level == event_pb2.AGGREGATION_LEVEL_BATCH
    assert event.batch.batch_id == batch.id and event.lead_id == "audited-0"
    assert event.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED

    listed = await feedback.ListFeedbackEvents(
        feedback_service_pb2.ListFeedbackEventsRequest(filter='lead_id = "audited-0"')
    )
    assert [e.batch.batch_id for e in listed.events] == [batch.id]
    by_batch = await feedback.ListFeedbackEvents(
        feedback_service_pb2.ListFeedbackEventsRequest(filter=f'batch_id = "{batch.id}"')
    )
    transmissions = [e for e in by_batch.events if not e.feedback_id]
    assert len(transmissions) == 1
    assert transmissions[0].batch.item_count == 1
    assert transmissions[0].batch.encryption == "openpgp"
    assert transmissions[0].batch.compression == "gzip"
    assert transmissions[0].content_sha256 == (await eventually(lambda: _sha(server, batch.id)))


async def test_the_event_of_the_file_describes_the_bytes_on_the_server(
    server: RunningServer, sshd: SshServer, remote_dir: Path, keyring: Keyring, recipient_key: str
) -> None:
    await create(
        server.channel,
        batch_recipient(
            "warehouse",
            "sftp",
            sftp_settings(sshd, remote_dir),
            {"password": sshd.account.password},
            nightly(keyring.public_key(recipient_key), sign=False),
        ),
    )
    await send_feedback(server.channel, "warehouse", 2)
    batch = await run_now(server.channel, "warehouse")
    done = await finished(server.channel, batch.id)
    assert done.batch.state == batch_pb2.BATCH_STATE_SUCCEEDED, done

    feedback = feedback_service_pb2_grpc.FeedbackServiceStub(server.channel)
    by_batch = await feedback.ListFeedbackEvents(
        feedback_service_pb2.ListFeedbackEventsRequest(filter=f'batch_id = "{batch.id}"')
    )
    [transmission] = [e for e in by_batch.events if not e.feedback_id]
    written = (remote_dir / done.batch.file_name).read_bytes()
    assert transmission.HasField("transmitted")
    assert (transmission.transmitted.size, transmission.transmitted.sha256) == (
        len(written),
        hashlib.sha256(written).hexdigest(),
    )
    assert transmission.details["rename"] in ("posix-rename", "rename")


async def _sha(server: RunningServer, batch_id: str) -> str:
    from backchannel_client.v1 import batch_service_pb2
    from support.batch_calls import batches

    answer = await batches(server.channel).GetBatch(
        batch_service_pb2.GetBatchRequest(batch_id=batch_id)
    )
    return answer.batch.sha256
