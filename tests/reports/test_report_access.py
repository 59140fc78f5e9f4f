"""ReportService under access control: Get/List need recipients:read, the rest
recipients:write; a caller narrowed to recipients reaches only their reports (others read
as not found); one narrowed to sources may only make and see reports on those sources."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from backchannel_client.v1 import (
    recipient_pb2,
    recipient_service_pb2,
    report_pb2,
    report_service_pb2,
    report_service_pb2_grpc,
)
from google.protobuf import json_format
from support.access import Secured, bearer, new_token
from support.receiver import WebhookReceiver
from support.webhook_recipients import webhook_recipient


class Reports:
    """ReportService called with one token."""

    def __init__(self, secured: Secured, token_text: str) -> None:
        self._stub = report_service_pb2_grpc.ReportServiceStub(secured.running.channel)
        self._metadata = bearer(token_text)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        return lambda request: method(request, metadata=self._metadata)


def definition(recipient_id: str, **fields: Any) -> report_pb2.Report:
    return report_pb2.Report(recipient_id=recipient_id, cron="0 6 * * 1", **fields)


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


@pytest.fixture
async def reports(
    secured: Secured, receiver: WebhookReceiver, signing_secret: str
) -> dict[str, str]:
    """Recipients "sink" and "other"; a report to each ("sink" on every source, "other" on
    src-a). Their ids by recipient."""
    made = {}
    for recipient_id in ("sink", "other"):
        recipient = json_format.ParseDict(
            webhook_recipient(recipient_id, receiver.url, signing_secret),
            recipient_pb2.Recipient(),
        )
        await secured.admin.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
        )
    admin = Reports(secured, secured.admin_token.text)
    scopes = {"sink": {"every_source": True}, "other": {"source_ids": ["src-a"]}}
    for recipient_id, scope in scopes.items():
        answer = await admin.CreateReport(
            report_service_pb2.CreateReportRequest(report=definition(recipient_id, **scope))
        )
        made[recipient_id] = answer.report.id
    return made


async def test_reading_needs_recipients_read_and_changing_recipients_write(
    secured: Secured, reports: dict[str, str]
) -> None:
    reader = Reports(secured, (await new_token(secured.admin, "r", ["recipients:read"])).text)
    listed = await reader.ListReports(report_service_pb2.ListReportsRequest())
    assert sorted(r.id for r in listed.reports) == sorted(reports.values())
    error = await refused(
        reader.CreateReport(report_service_pb2.CreateReportRequest(report=definition("sink")))
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "recipients:write" in (error.details() or "")
    error = await refused(
        reader.RunReport(
            report_service_pb2.RunReportRequest(
                report_id=reports["sink"], period="2026-11", dry_run=True
            )
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_caller_narrowed_to_a_recipient_sees_only_its_reports(
    secured: Secured, reports: dict[str, str]
) -> None:
    token = await new_token(
        secured.admin, "o", ["recipients:read", "recipients:write"], recipients=["other"]
    )
    narrowed = Reports(secured, token.text)
    listed = await narrowed.ListReports(report_service_pb2.ListReportsRequest())
    assert [r.id for r in listed.reports] == [reports["other"]]
    error = await refused(
        narrowed.GetReport(report_service_pb2.GetReportRequest(report_id=reports["sink"]))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = await refused(
        narrowed.CreateReport(
            report_service_pb2.CreateReportRequest(report=definition("sink", every_source=True))
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_caller_narrowed_to_sources_never_reaches_other_sources_figures(
    secured: Secured, reports: dict[str, str]
) -> None:
    token = await new_token(
        secured.admin, "s", ["recipients:read", "recipients:write"], sources=["src-a"]
    )
    narrowed = Reports(secured, token.text)
    for scope in ({"every_source": True}, {"source_ids": ["src-a", "src-b"]}):
        error = await refused(
            narrowed.CreateReport(
                report_service_pb2.CreateReportRequest(report=definition("other", **scope))
            )
        )
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = await refused(
        narrowed.RunReport(
            report_service_pb2.RunReportRequest(
                report_id=reports["sink"], period="2026-11", dry_run=True
            )
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND, "a report on every source is not its"
    preview = await narrowed.RunReport(
        report_service_pb2.RunReportRequest(
            report_id=reports["other"], period="2026-11", dry_run=True
        )
    )
    assert preview.content_type == "application/json"
    listed = await narrowed.ListReports(report_service_pb2.ListReportsRequest())
    assert [r.id for r in listed.reports] == [reports["other"]]
