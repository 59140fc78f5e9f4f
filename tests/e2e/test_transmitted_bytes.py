"""An event describes the bytes actually transmitted: for every built-in transport the size
and SHA-256 on the event are those of what the real receiver got (the webhook body at the
receiver, the card at the Workflows stand-in, the file read back from sshd's directory, the
message as the SMTP server received it), while content_size and content_sha256 keep
describing what the formatter produced. The transport's details are on the event too."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from backchannel_client.v1 import (
    event_pb2,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
)
from google.protobuf import struct_pb2
from support.brief_example import brief_example_feedback
from support.feedback_calls import send_feedback, wait_for_event
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver
from support.sftp_server import SshServer
from support.smtp_server import PASSWORD, USERNAME, Certificates, SmtpServer, running_smtp_server
from support.teams_receiver import MAX_BODY_BYTES, Certificate, WorkflowsReceiver
from support.teams_receiver import self_signed_certificate as workflows_certificate_in
from support.webhook_recipients import create_webhook_recipient

from backchannel.plugin_support import SPAN_FACTS


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


async def create(running: RunningServer, recipient: recipient_pb2.Recipient) -> None:
    await running.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_describes(event: event_pb2.FeedbackSentEvent, received: bytes) -> None:
    assert event.HasField("transmitted"), event
    assert (event.transmitted.size, event.transmitted.sha256) == (len(received), sha256(received))


def assert_no_span_facts(event: event_pb2.FeedbackSentEvent) -> None:
    # The client span's facts are on the span; the event keeps the transport's own.
    assert set(event.details) & set(SPAN_FACTS) == set()


# --- webhook -------------------------------------------------------------------------------


async def test_a_webhook_event_describes_the_body_the_receiver_got(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)

    answer = await send_feedback(backchannel, "bytes-webhook", ["acme"])

    [request] = await receiver.wait_for(1)
    event = await wait_for_event(backchannel, answer.feedback.id)
    assert event.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED
    assert_describes(event, request.body)
    # The webhook sends the formatter's content as it is.
    assert (event.content_size, event.content_sha256) == (len(request.body), sha256(request.body))
    assert_no_span_facts(event)


# --- teams ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflows_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return workflows_certificate_in(tmp_path_factory.mktemp("workflows-tls"))


@pytest.fixture
async def workflows(workflows_certificate: Certificate) -> AsyncIterator[WorkflowsReceiver]:
    receiver = WorkflowsReceiver(workflows_certificate)
    await receiver.start()
    yield receiver
    await receiver.stop()


async def create_teams_recipient(
    running: RunningServer, workflows: WorkflowsReceiver, certificate: Certificate
) -> None:
    await create(
        running,
        recipient_pb2.Recipient(
            id="channel",
            recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
            transport="teams",
            transport_settings=struct(
                {"ca_certificate": certificate.pem, "include_personal_data": True}
            ),
            secret_settings=struct({"url": workflows.url()}),
        ),
    )


async def test_a_teams_event_describes_the_card_posted_not_the_formatters_json(
    backchannel: RunningServer, workflows: WorkflowsReceiver, workflows_certificate: Certificate
) -> None:
    await create_teams_recipient(backchannel, workflows, workflows_certificate)

    answer = await send_feedback(backchannel, "bytes-teams", ["channel"])

    # The event is recorded once the post is answered: the card has arrived by then.
    event = await wait_for_event(backchannel, answer.feedback.id)
    [arrival] = workflows.arrivals
    posted = arrival.body
    assert event.response_status.code == 202
    assert_describes(event, posted)
    assert event.content_sha256 != sha256(posted)
    assert event.details["workflow"].startswith("accepted")
    assert_no_span_facts(event)


async def test_a_trimmed_teams_card_is_described_as_posted_within_teams_limit(
    backchannel: RunningServer, workflows: WorkflowsReceiver, workflows_certificate: Certificate
) -> None:
    await create_teams_recipient(backchannel, workflows, workflows_certificate)
    feedback_attributes = {f"note_{index:03}": f"{index:03} " + "x" * 700 for index in range(60)}

    answer = await send_feedback_with_attributes(backchannel, feedback_attributes)

    # The event is recorded once the post is answered: the card has arrived by then.
    event = await wait_for_event(backchannel, answer.feedback.id)
    [arrival] = workflows.arrivals
    posted = arrival.body
    assert event.response_status.code == 202
    assert_describes(event, posted)
    assert event.transmitted.size <= MAX_BODY_BYTES < event.content_size
    assert int(event.details["card_trimmed_items"]) > 0


async def send_feedback_with_attributes(
    running: RunningServer, attributes: dict[str, str]
) -> feedback_service_pb2.SendFeedbackResponse:
    feedback = brief_example_feedback()
    feedback.attributes.update(attributes)
    return await running.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id="bytes-teams-trimmed", feedback=feedback, recipient_ids=["channel"]
        )
    )


# --- sftp ----------------------------------------------------------------------------------


async def test_a_gzipped_sftp_upload_is_described_as_the_file_on_the_server(
    backchannel: RunningServer, sshd: SshServer, remote_dir: Path
) -> None:
    await create(
        backchannel,
        recipient_pb2.Recipient(
            id="drop",
            recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
            transport="sftp",
            transport_settings=struct(
                {
                    "host": sshd.host,
                    "port": sshd.port,
                    "username": sshd.account.username,
                    "directory": str(remote_dir),
                    "known_hosts": sshd.known_hosts_line(),
                    "gzip": True,
                }
            ),
            secret_settings=struct({"password": sshd.account.password}),
        ),
    )

    answer = await send_feedback(backchannel, "bytes-sftp", ["drop"])

    event = await wait_for_event(backchannel, answer.feedback.id)
    assert event.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED, event
    written = await asyncio.to_thread(Path(event.response_status.remote_id).read_bytes)
    assert_describes(event, written)
    # What the formatter produced is what the file holds once gunzipped.
    content = gzip.decompress(written)
    assert (event.content_size, event.content_sha256) == (len(content), sha256(content))
    assert event.transmitted.size != event.content_size
    assert event.details["rename"] in ("posix-rename", "rename")
    assert_no_span_facts(event)


# --- email ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smtp_certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates.create(tmp_path_factory.mktemp("smtp-certificates"))


@pytest.fixture
def smtp(smtp_certificates: Certificates) -> Iterator[SmtpServer]:
    with running_smtp_server(smtp_certificates, tls="starttls") as server:
        yield server


async def test_an_email_event_describes_the_message_the_server_received_and_who_refused_it(
    backchannel: RunningServer, smtp: SmtpServer, smtp_certificates: Certificates
) -> None:
    smtp.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"
    await create(
        backchannel,
        recipient_pb2.Recipient(
            id="mail",
            recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
            transport="email",
            transport_settings=struct(
                {
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "ca_certificate": smtp_certificates.ca_pem,
                    "username": USERNAME,
                    "from_address": "feedback@backchannel.example",
                    "to": ["partner@example.com", "gone@example.com"],
                }
            ),
            secret_settings=struct({"password": PASSWORD}),
        ),
    )

    answer = await send_feedback(backchannel, "bytes-email", ["mail"])

    event = await wait_for_event(backchannel, answer.feedback.id)
    assert event.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED, event
    [received] = smtp.handler.messages
    assert_describes(event, received.raw)
    assert event.transmitted.size > event.content_size
    assert "gone@example.com" in event.details["refused_recipients"]
    assert event.details["accepted_recipients"] == "1"
    assert_no_span_facts(event)
