"""Batch files over the webhook and email transports, read back by independent parsers:
openpyxl reads the XLSX and its cell types, standardwebhooks verifies the signature, the
``email`` package parses the attachments the SMTP server received (TLS, AUTH)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import openpyxl
import pytest
from backchannel_client.v1 import (
    batch_pb2,
    event_pb2,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
)
from standardwebhooks.webhooks import Webhook
from support.batch_calls import batch_recipient, create, finished, run_now, send_feedback
from support.in_process_server import RunningServer, serving
from support.polling import eventually
from support.receiver import WebhookReceiver
from support.smtp_server import PASSWORD, USERNAME, Certificates, SmtpServer, running_smtp_server


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[RunningServer]:
    async with serving(database_url) as running:
        yield running


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates.create(tmp_path_factory.mktemp("smtp-certificates"))


@pytest.fixture
def smtp_server(certificates: Certificates) -> Iterator[SmtpServer]:
    with running_smtp_server(certificates, tls="starttls") as running:
        yield running


def daily(file: dict[str, object], **more: object) -> dict[str, object]:
    return {"schedule": {"cron": "0 6 * * *", "timeZone": "Europe/Paris"}, "file": file, **more}


async def test_an_xlsx_file_has_numbers_as_numbers_and_times_as_times(
    server: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create(
        server.channel,
        batch_recipient(
            "sheets",
            "webhook",
            {"url": receiver.url},
            {"signing_secrets": signing_secret},
            daily({"format": "BATCH_FILE_FORMAT_XLSX", "compression": "BATCH_COMPRESSION_ZIP"}),
            {"fields": ["lead_id", "outcome.value", "quality.overall_score", "feedback_date"]},
        ),
    )
    await send_feedback(server.channel, "sheets", 3)
    batch = await run_now(server.channel, "sheets")
    done = await finished(server.channel, batch.id)
    assert done.batch.state == batch_pb2.BATCH_STATE_SUCCEEDED, done.batch
    assert done.batch.file_name == "sheets-000001.xlsx.zip"
    [request] = await receiver.wait_for(1)
    assert (
        request.headers["content-disposition"] == f'attachment; filename="{done.batch.file_name}"'
    )
    assert request.headers["content-type"] == "application/zip"
    assert request.headers["webhook-id"] == batch.id
    # Standard Webhooks, computed here by hand (the standardwebhooks package decodes bodies
    # as text; this one is binary): v1,base64(HMAC-SHA256(key, id.timestamp.body)).
    key = base64.b64decode(signing_secret.removeprefix("whsec_"))
    signed = f"{batch.id}.{request.headers['webhook-timestamp']}.".encode() + request.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert expected in request.headers["webhook-signature"].split()
    archive = zipfile.ZipFile(io.BytesIO(request.body))
    [member] = archive.namelist()
    assert member == "sheets-000001.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(archive.read(member))).active
    assert sheet is not None
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == [
        "lead_id",
        "outcome.value",
        "quality.overall_score",
        "feedback_date",
    ]
    assert len(rows) == 4
    lead, value, score, when = rows[1]
    assert lead.data_type == "s" and str(lead.value).startswith("lead-")
    assert value.data_type == "n" and value.value == 1250
    assert score.data_type == "n" and score.value == 85
    assert when.is_date and isinstance(when.value, datetime)
    assert when.value == datetime(2024, 1, 15, 10, 30)


async def test_a_jsonl_file_holds_one_object_per_feedback_and_its_signature_verifies(
    server: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create(
        server.channel,
        batch_recipient(
            "lines",
            "webhook",
            {"url": receiver.url},
            {"signing_secrets": signing_secret},
            daily(
                {
                    "format": "BATCH_FILE_FORMAT_JSONL",
                    "nameTemplate": "{recipient_id}_{run_time:%Y%m%d}.{ext}",
                }
            ),
            {"fields": ["lead_id", "outcome.value"]},
        ),
    )
    await send_feedback(server.channel, "lines", 4)
    batch = await run_now(server.channel, "lines")
    done = await finished(server.channel, batch.id)
    assert done.batch.file_name.endswith(".jsonl")
    [request] = await receiver.wait_for(1)
    Webhook(signing_secret).verify(request.body, request.headers, json_parse=False)
    objects = [json.loads(line) for line in request.body.decode().splitlines()]
    assert sorted(o["lead_id"] for o in objects) == [f"lead-{n}" for n in range(4)]
    assert b'"outcome.value":1250.00' in request.body


async def test_an_email_file_over_the_size_limit_goes_in_numbered_parts(
    server: RunningServer, smtp_server: SmtpServer, certificates: Certificates
) -> None:
    settings = {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "username": USERNAME,
        "from_address": "Backchannel <feedback@backchannel.example>",
        "to": ["partner@example.com"],
        "ca_certificate": certificates.ca_pem,
    }
    await create(
        server.channel,
        batch_recipient(
            "mailed",
            "email",
            settings,
            {"password": PASSWORD},
            daily({"format": "BATCH_FILE_FORMAT_CSV"}, maxFileBytes="400", splitOversize=True),
        ),
    )
    await send_feedback(server.channel, "mailed", 5)
    batch = await run_now(server.channel, "mailed")
    done = await finished(server.channel, batch.id)
    assert done.batch.state == batch_pb2.BATCH_STATE_SUCCEEDED, done.batch
    parts = -(-done.batch.size // 400)
    assert parts > 1
    received = await eventually(lambda: _messages(smtp_server, parts), timeout=10)
    attachments: dict[str, bytes] = {}
    for message in received:
        assert message.over_tls
        for attachment in message.message.iter_attachments():
            name = attachment.get_filename()
            assert name is not None
            attachments[name] = attachment.get_payload(decode=True)  # type: ignore[assignment]
    names = sorted(attachments)
    assert names == [f"{done.batch.file_name}.{n:03d}" for n in range(1, parts + 1)]
    joined = b"".join(attachments[name] for name in names)
    assert hashlib.sha256(joined).hexdigest() == done.batch.sha256
    assert joined.count(b"\r\nlead-") == 5


async def test_a_file_posted_to_a_webhook_is_described_as_the_body_received(
    server: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create(
        server.channel,
        batch_recipient(
            "lines",
            "webhook",
            {"url": receiver.url},
            {"signing_secrets": signing_secret},
            daily({"format": "BATCH_FILE_FORMAT_JSONL"}),
        ),
    )
    await send_feedback(server.channel, "lines", 3)
    batch = await run_now(server.channel, "lines")
    await finished(server.channel, batch.id)
    [request] = await receiver.wait_for(1)

    event = await _file_event(server, batch.id)
    assert event.HasField("transmitted")
    assert (event.transmitted.size, event.transmitted.sha256) == (
        len(request.body),
        hashlib.sha256(request.body).hexdigest(),
    )


async def test_a_file_mailed_in_parts_is_described_as_every_message_received_in_order(
    server: RunningServer, smtp_server: SmtpServer, certificates: Certificates
) -> None:
    settings = {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "username": USERNAME,
        "from_address": "feedback@backchannel.example",
        "to": ["partner@example.com"],
        "ca_certificate": certificates.ca_pem,
    }
    await create(
        server.channel,
        batch_recipient(
            "mailed",
            "email",
            settings,
            {"password": PASSWORD},
            daily({"format": "BATCH_FILE_FORMAT_CSV"}, maxFileBytes="400", splitOversize=True),
        ),
    )
    await send_feedback(server.channel, "mailed", 5)
    batch = await run_now(server.channel, "mailed")
    done = await finished(server.channel, batch.id)
    parts = -(-done.batch.size // 400)
    received = await eventually(lambda: _messages(smtp_server, parts), timeout=10)

    event = await _file_event(server, batch.id)
    wire = b"".join(message.raw for message in received)  # type: ignore[attr-defined]
    assert (event.transmitted.size, event.transmitted.sha256) == (
        len(wire),
        hashlib.sha256(wire).hexdigest(),
    )
    assert event.details["parts"] == str(parts)


async def _file_event(server: RunningServer, batch_id: str) -> event_pb2.FeedbackSentEvent:
    """The event of the batch file's (only) transmission."""
    feedback = feedback_service_pb2_grpc.FeedbackServiceStub(server.channel)

    async def recorded() -> event_pb2.FeedbackSentEvent | None:
        listed = await feedback.ListFeedbackEvents(
            feedback_service_pb2.ListFeedbackEventsRequest(filter=f'batch_id = "{batch_id}"')
        )
        files = [e for e in listed.events if not e.feedback_id]
        return files[0] if files else None

    return await eventually(recorded, timeout=10)


async def _messages(server: SmtpServer, count: int) -> list[object] | None:
    messages = list(server.handler.messages)
    return messages if len(messages) >= count else None  # type: ignore[return-value]


async def test_teams_cannot_carry_batch_files(server: RunningServer) -> None:
    import grpc

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await create(
            server.channel,
            batch_recipient(
                "chat",
                "teams",
                {"url": "https://example.webhook.office.com/x"},
                {},
                daily({"format": "BATCH_FILE_FORMAT_CSV"}),
            ),
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot carry batch files" in (refused.value.details() or "")
