"""A summary report to an email recipient arrives as an HTML message with a plain-text
alternative (not an attachment), through a real SMTP server over STARTTLS, read back by
the standard library's email parser."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from backchannel_client.v1 import (
    recipient_pb2,
    recipient_service_pb2,
    report_pb2,
    report_service_pb2,
    report_service_pb2_grpc,
)
from google.protobuf import json_format
from support.in_process_server import RunningServer
from support.polling import eventually
from support.report_feedback import Sent, at, expected_figures, send_all
from support.smtp_server import PASSWORD, USERNAME, Certificates, SmtpServer, running_smtp_server


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates.create(tmp_path_factory.mktemp("smtp-certificates"))


@pytest.fixture
def smtp_server(certificates: Certificates) -> Iterator[SmtpServer]:
    with running_smtp_server(certificates, tls="starttls") as running:
        yield running


async def test_an_email_report_is_html_with_a_plain_text_alternative(
    backchannel: RunningServer, smtp_server: SmtpServer, certificates: Certificates
) -> None:
    recipient = json_format.ParseDict(
        {
            "id": "mailed",
            "recipientType": "RECIPIENT_TYPE_SOURCE",
            "transport": "email",
            "format": "json",
            "transportSettings": {
                "host": smtp_server.host,
                "port": smtp_server.port,
                "username": USERNAME,
                "from_address": "Backchannel <feedback@backchannel.example>",
                "to": ["source@example.com"],
                "ca_certificate": certificates.ca_pem,
            },
            "secretSettings": {"password": PASSWORD},
            "subscription": {"sourceIds": ["nobody"]},
        },
        recipient_pb2.Recipient(),
    )
    await backchannel.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
    )
    items = [
        Sent("src-a", "conversion", at("UTC", 2026, 11, 3, 9), "USD", "12.50"),
        Sent("src-a", "return", at("UTC", 2026, 11, 4, 9), reason="wrong_number"),
    ]
    await send_all(backchannel, "mailed", items)
    await eventually(lambda: _messages(smtp_server, 2), timeout=10)
    stub = report_service_pb2_grpc.ReportServiceStub(backchannel.channel)
    report = (
        await stub.CreateReport(
            report_service_pb2.CreateReportRequest(
                report=report_pb2.Report(
                    recipient_id="mailed",
                    title="Acme weekly",
                    source_ids=["src-a"],
                    cron="0 6 * * 1",
                    footer="Questions? ops@example.com",
                )
            )
        )
    ).report
    await stub.RunReport(
        report_service_pb2.RunReportRequest(report_id=report.id, period="2026-11", requested_by="t")
    )
    received = await eventually(lambda: _messages(smtp_server, 3), timeout=15)
    message = received[2].message
    assert message["Subject"] == "Acme weekly: 2026-11-01 to 2026-11-30"
    assert message.get_content_type() == "multipart/alternative"
    assert list(message.iter_attachments()) == []
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    plain = text.get_content()
    expected = expected_figures(items)
    assert f"Feedback: {expected['volume']['total']} (" in plain
    assert "Revenue USD: 12.500000 over 1, average 12.500000" in plain
    assert "wrong_number: 1 (100.0%)" in plain
    assert "Questions? ops@example.com" in plain
    assert "<table>" in html.get_content()


async def _messages(server: SmtpServer, count: int) -> list[_Received] | None:
    messages = list(server.handler.messages)
    return messages if len(messages) >= count else None  # type: ignore[return-value]


class _Received:
    message: EmailMessage
