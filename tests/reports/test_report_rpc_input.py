"""Any input to the ReportService RPCs gets an answer a caller can act on (OK,
INVALID_ARGUMENT with its field violations, NOT_FOUND, ALREADY_EXISTS), never INTERNAL or
UNKNOWN; and a refused request changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from backchannel_client.v1 import report_pb2, report_service_pb2, report_service_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.in_process_server import RunningServer, serving
from support.receiver import WebhookReceiver
from support.rpc_errors import rich_error
from support.webhook_recipients import create_webhook_recipient

ACTIONABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
}
REPORT_ID = "rpt_fixed"
texts = st.one_of(
    st.sampled_from(["sink", REPORT_ID, "", "SINK", "src-a", "tests", "rpt_"]),
    st.text(max_size=30),
    st.text(alphabet="\x00abc", max_size=5),
    st.just("x" * 3000),
)
numbers = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, 5, 200, 1001]))
periods = st.one_of(
    st.sampled_from(
        ["2026-11", "2026-11-03", "2026-11-01..2026-11-07", "0001-01", "9999-12", "0001-01-01",
         "2026-02-30", "2026-13", "2026-11-07..2026-11-01", "1970-01..", "2000-01-01..2099-12-31"]
    ),
    st.from_regex(r"\A\d{4}-\d{2}(-\d{2})?\Z"),
    texts,
)  # fmt: skip
reports = st.builds(
    report_pb2.Report,
    id=texts,
    recipient_id=st.sampled_from(["sink", "nobody", ""]),
    title=texts,
    source_ids=st.lists(texts, max_size=3),
    every_source=st.booleans(),
    sections=st.lists(st.sampled_from(["volume", "trend", "benchmark", "x"]), max_size=3),
    format=st.sampled_from(["", "json", "html", "pdf"]),
    cron=st.sampled_from(["0 6 * * 1", "* * * * *", "0 0 30 2 *", "", "@daily"]),
    time_zone=st.sampled_from(["", "UTC", "America/New_York", "Asia/Kolkata", "Nope/Nope"]),
    benchmark_min_sources=numbers,
    footer=texts,
)
requests = st.one_of(
    st.builds(report_service_pb2.CreateReportRequest, report=reports),
    st.builds(report_service_pb2.GetReportRequest, report_id=texts, run_limit=numbers),
    st.builds(
        report_service_pb2.ListReportsRequest,
        recipient_id=texts, page_size=numbers, page_token=texts,
    ),
    st.builds(report_service_pb2.UpdateReportRequest, report=reports),
    st.builds(report_service_pb2.DeleteReportRequest, report_id=texts),
    st.builds(
        report_service_pb2.RunReportRequest,
        report_id=st.sampled_from([REPORT_ID, "rpt_other", ""]), period=periods,
        dry_run=st.just(True), requested_by=texts,
    ),
)  # fmt: skip


@pytest.fixture
async def server(
    database_url: str, receiver: WebhookReceiver, signing_secret: str
) -> AsyncIterator[RunningServer]:
    async with serving(database_url, dispatcher_enabled=False) as running:
        await create_webhook_recipient(running, "sink", receiver.url, signing_secret)
        pool = running.server._pool
        assert pool is not None
        await pool.execute(
            "INSERT INTO reports (id, recipient_id, definition, next_run_at, create_time,"
            " update_time) VALUES ($1, 'sink', $2::jsonb, now() + interval '1 day', now(),"
            " now())",
            REPORT_ID,
            {
                "title": "", "source_ids": ["src-a"], "every_source": False,
                "sections": ["volume", "conversions", "revenue", "returns", "quality", "trend",
                             "benchmark"],
                "format": "", "cron": "0 6 * * 1", "time_zone": "America/New_York",
                "benchmark_min_sources": 5, "footer": "",
            },
        )  # fmt: skip
        yield running


async def _rows(server: RunningServer) -> list[tuple[object, ...]]:
    pool = server.server._pool
    assert pool is not None
    reports = await pool.fetch("SELECT id, definition, delete_time FROM reports ORDER BY id")
    runs = await pool.fetch("SELECT id FROM report_runs ORDER BY id")
    return [tuple(r) for r in reports] + [tuple(r) for r in runs]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=requests)
async def test_any_request_gets_an_actionable_answer_and_a_refusal_changes_nothing(
    server: RunningServer, request: object
) -> None:
    stub = report_service_pb2_grpc.ReportServiceStub(server.channel)
    method = {
        report_service_pb2.CreateReportRequest: stub.CreateReport,
        report_service_pb2.GetReportRequest: stub.GetReport,
        report_service_pb2.ListReportsRequest: stub.ListReports,
        report_service_pb2.UpdateReportRequest: stub.UpdateReport,
        report_service_pb2.DeleteReportRequest: stub.DeleteReport,
        report_service_pb2.RunReportRequest: stub.RunReport,
    }[type(request)]
    before = await _rows(server)
    try:
        await method(request)  # type: ignore[operator]
    except grpc.aio.AioRpcError as error:
        assert error.code() in ACTIONABLE, (request, error.code(), error.details())
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            assert rich_error(error).violated_fields
        assert await _rows(server) == before


@pytest.mark.parametrize(
    "period",
    ["0001-01", "0001-01-01", "9999-12", "9999-12-31", "2026-02-30", "2026-13", "1970-01..",
     "2026-11-07..2026-11-01", "2000-01-01..2099-12-31", "2026-11-01..2026-11-07"],
)  # fmt: skip
async def test_a_period_at_the_ends_of_the_calendar_is_an_answer_not_an_error(
    server: RunningServer, period: str
) -> None:
    stub = report_service_pb2_grpc.ReportServiceStub(server.channel)
    request = report_service_pb2.RunReportRequest(report_id=REPORT_ID, period=period, dry_run=True)
    try:
        await stub.RunReport(request)
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (period, error.details())
        assert rich_error(error).violated_fields == ["period"]
