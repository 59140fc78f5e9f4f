"""A summary report to an SFTP recipient: the JSON document written to the recipient's
directory (read back with OpenSSH's own sftp client), valid against the published
schema, with the figures of the feedback sent."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
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
from support.sftp_client import sftp_get, sftp_settings
from support.sftp_server import SshServer

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "schemas" / "report-v1.json").read_text())


async def test_a_report_lands_on_sftp_as_the_json_document(
    backchannel: RunningServer, sshd: SshServer, remote_dir: Path, tmp_path: Path
) -> None:
    recipient = json_format.ParseDict(
        {
            "id": "warehouse",
            "recipientType": "RECIPIENT_TYPE_PARTNER",
            "transport": "sftp",
            "format": "json",
            "transportSettings": sftp_settings(sshd, remote_dir),
            "secretSettings": {"password": sshd.account.password},
            "subscription": {"sourceIds": ["nobody"]},
        },
        recipient_pb2.Recipient(),
    )
    await backchannel.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
    )
    items = [
        Sent("src-a", "conversion", at("Europe/Paris", 2026, 11, 1, 0, 30), "EUR", "40.00"),
        Sent("src-b", "return", at("Europe/Paris", 2026, 11, 2, 9), reason="duplicate"),
    ]
    await send_all(backchannel, "warehouse", items)
    stub = report_service_pb2_grpc.ReportServiceStub(backchannel.channel)
    report = (
        await stub.CreateReport(
            report_service_pb2.CreateReportRequest(
                report=report_pb2.Report(
                    recipient_id="warehouse",
                    every_source=True,
                    cron="0 6 1 * *",
                    time_zone="Europe/Paris",
                )
            )
        )
    ).report
    ran = await stub.RunReport(
        report_service_pb2.RunReportRequest(
            report_id=report.id, period="2026-11", requested_by="tests"
        )
    )

    async def sent() -> bool:
        got = await stub.GetReport(report_service_pb2.GetReportRequest(report_id=report.id))
        return got.runs[0].state == report_pb2.REPORT_RUN_STATE_SUCCEEDED

    await eventually(sent, timeout=20)
    name = ran.run.file_name
    assert name == f"report-{report.id}-2026-11.json"
    body = await sftp_get(sshd, f"{remote_dir}/{name}", tmp_path / name)
    document = json.loads(body)
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    expected = expected_figures(items)
    assert {k: v for k, v in document["total"].items() if k != "trend"} == expected
