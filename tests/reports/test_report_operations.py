"""Report definitions and operator runs over the real API and the ``backchannel reports``
CLI: bad definitions are refused with every violation and change nothing; create, update,
delete and run are each in the audit trail; a run sends the report to the recipient once
per period (a second run of the period is refused); --dry-run writes the report and sends
nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from backchannel_client.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    event_pb2,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
    report_pb2,
    report_service_pb2,
    report_service_pb2_grpc,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.batch_calls import backchannel_cli
from support.in_process_server import RunningServer
from support.polling import eventually
from support.receiver import WebhookReceiver
from support.report_feedback import Sent, at, send_all
from support.rpc_errors import rich_error
from support.webhook_recipients import create_webhook_recipient

Stub = report_service_pb2_grpc.ReportServiceStub


@pytest.fixture
async def stub(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> AsyncIterator[Stub]:
    await create_webhook_recipient(backchannel, "sink", receiver.url, signing_secret)
    yield Stub(backchannel.channel)


def good(**fields: object) -> report_pb2.Report:
    values: dict[str, object] = {
        "recipient_id": "sink",
        "source_ids": ["src-a"],
        "cron": "0 6 * * 1",
        "time_zone": "America/New_York",
    }
    values.update(fields)
    return report_pb2.Report(**values)  # type: ignore[arg-type]


async def reports_stored(stub: Stub) -> int:
    return len((await stub.ListReports(report_service_pb2.ListReportsRequest())).reports)


async def test_a_bad_definition_is_refused_with_every_violation_and_nothing_stored(
    stub: Stub,
) -> None:
    bad = good(
        cron="61 * * * *",
        time_zone="Mars/Olympus",
        sections=["volume", "weather", "volume"],
        benchmark_min_sources=1,
        format="pdf",
        every_source=True,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateReport(report_service_pb2.CreateReportRequest(report=bad))
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(error.violated_fields) == sorted(
        [
            "report.cron",
            "report.time_zone",
            "report.sections[1]",
            "report.sections[2]",
            "report.benchmark_min_sources",
            "report.format",
            "report.source_ids",
        ]
    )
    assert await reports_stored(stub) == 0


async def test_a_zone_whose_midnights_are_off_the_hour_is_refused(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateReport(
            report_service_pb2.CreateReportRequest(report=good(time_zone="Asia/Kolkata"))
        )
    assert rich_error(caught.value).violated_fields == ["report.time_zone"]


async def test_an_unknown_recipient_is_a_violation(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateReport(
            report_service_pb2.CreateReportRequest(report=good(recipient_id="nobody"))
        )
    assert rich_error(caught.value).violated_fields == ["report.recipient_id"]


async def test_a_recipient_whose_transport_carries_no_files_is_refused(
    backchannel: RunningServer, stub: Stub
) -> None:
    teams = recipient_pb2.Recipient(
        id="chat", recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER, transport="teams"
    )
    teams.secret_settings.update(
        {"url": "https://prod-01.westus.logic.azure.com/workflows/a/triggers/manual/paths/"
         "invoke?api-version=2016-06-01&sig=abc"}
    )  # fmt: skip
    await backchannel.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=teams)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateReport(
            report_service_pb2.CreateReportRequest(report=good(recipient_id="chat"))
        )
    error = rich_error(caught.value)
    assert error.violated_fields == ["report.recipient_id"]
    assert "cannot carry reports" in error.bad_request.field_violations[0].description


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cron=st.text(alphabet="0123456789*/,- abcMONJ", max_size=20),
    zone=st.sampled_from(["", "UTC", "Europe/Paris", "Nowhere/Land", "utc", "Asia/Kathmandu"]),
    section=st.text(max_size=12).filter(lambda s: "\x00" not in s),
    k=st.integers(min_value=-5, max_value=2000),
)
async def test_any_definition_is_stored_or_refused_as_invalid_never_an_error(
    stub: Stub, cron: str, zone: str, section: str, k: int
) -> None:
    report = good(cron=cron, time_zone=zone, sections=[section], benchmark_min_sources=k)
    try:
        await stub.CreateReport(report_service_pb2.CreateReportRequest(report=report))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert rich_error(error).violated_fields


async def test_a_run_sends_the_period_once_and_every_change_is_audited(
    backchannel: RunningServer, stub: Stub, receiver: WebhookReceiver
) -> None:
    await send_all(
        backchannel, "sink", [Sent("src-a", "conversion", at("UTC", 2026, 11, 3, 9), "USD", "5")]
    )
    await receiver.wait_for(1)  # the feedback itself
    report = (await stub.CreateReport(report_service_pb2.CreateReportRequest(report=good()))).report
    changed = good(title="Renamed")
    changed.id = report.id
    await stub.UpdateReport(report_service_pb2.UpdateReportRequest(report=changed))
    answer = await stub.RunReport(
        report_service_pb2.RunReportRequest(
            report_id=report.id, period="2026-11", requested_by="ops"
        )
    )
    assert answer.run.feedback_count == 1
    [_, sent] = await receiver.wait_for(2)
    assert json.loads(sent.body)["report"]["title"] == "Renamed"

    async def succeeded() -> report_pb2.ReportRun | None:
        got = await stub.GetReport(report_service_pb2.GetReportRequest(report_id=report.id))
        done = got.runs[0].state == report_pb2.REPORT_RUN_STATE_SUCCEEDED
        return got.runs[0] if done else None

    run = await eventually(succeeded)
    assert run.id == answer.run.id and run.requested_by == "ops"
    events = await backchannel.feedback.ListFeedbackEvents(
        feedback_service_pb2.ListFeedbackEventsRequest(filter=f'report_id = "{report.id}"')
    )
    [event] = events.events
    assert event.aggregation_level == event_pb2.AGGREGATION_LEVEL_SUMMARY
    assert event.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED
    assert (event.report.report_id, event.report.feedback_count) == (report.id, 1)
    assert event.report.period_start == run.period_start
    assert event.report.period_end == run.period_end
    assert event.content_sha256 == run.sha256 and event.content_size == run.size
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await stub.RunReport(
            report_service_pb2.RunReportRequest(
                report_id=report.id, period="2026-11", requested_by="ops"
            )
        )
    assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS
    await stub.DeleteReport(report_service_pb2.DeleteReportRequest(report_id=report.id))
    assert await reports_stored(stub) == 0
    audit = audit_service_pb2_grpc.AuditServiceStub(backchannel.channel)
    actions = []
    for action in ("report.create", "report.update", "report.run", "report.delete"):
        trail = await audit.ListAuditRecords(
            audit_service_pb2.ListAuditRecordsRequest(filter=f'action = "{action}"')
        )
        actions += [r.action for r in trail.records if r.target == f"reports/{report.id}"]
    actions.sort()
    assert actions == ["report.create", "report.delete", "report.run", "report.update"]
    assert len(receiver.requests) == 2


async def test_the_cli_creates_lists_previews_and_deletes_a_report(
    backchannel: RunningServer, stub: Stub, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    address = backchannel.address
    code, out, err = await backchannel_cli(
        address, "reports", "create", "--recipient", "sink", "--source", "src-a",
        "--cron", "0 6 * * 1", "--time-zone", "America/New_York", "--json",
    )  # fmt: skip
    assert code == 0, err
    report_id = json.loads(out)["id"]
    code, out, _ = await backchannel_cli(address, "reports", "list")
    assert code == 0 and out.startswith(f"{report_id}  to sink")
    target = tmp_path / "report.json"
    code, out, err = await backchannel_cli(
        address, "reports", "run", report_id, "--period", "2026-11", "--dry-run",
        "--output", str(target),
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(target.read_text())
    assert document["period"]["first_day"] == "2026-11-01"
    assert document["report"]["run_id"] == ""
    code, out, err = await backchannel_cli(
        address, "reports", "run", report_id, "--period", "2026-13", "--dry-run"
    )
    assert code != 0 and "period" in err
    code, out, _ = await backchannel_cli(address, "reports", "get", report_id)
    assert code == 0 and "run " not in out, "a dry run makes no run"
    code, _, err = await backchannel_cli(address, "reports", "delete", report_id)
    assert code == 0, err
    assert await reports_stored(stub) == 0
    assert receiver.requests == []
