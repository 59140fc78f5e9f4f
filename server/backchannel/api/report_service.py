"""backchannel.v1.ReportService: summary report definitions, and running one now.

Access: a caller narrowed to recipients reaches only those recipients' reports (others
read as not found); one narrowed to sources may only make, see and run reports on those
sources (never on every source: others read as not found). Every change and every run is
recorded in the audit trail in the transaction that makes it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
from backchannel_client.v1 import report_service_pb2, report_service_pb2_grpc

from backchannel.api.audit_entries import audit_entry
from backchannel.api.errors import ApiError, Violations, not_found
from backchannel.api.grants import grant, may_read, require_recipients, require_subscription
from backchannel.api.operator_identity import check_requested_by, requested_by
from backchannel.api.report_messages import definition_changes, report_message, run_message
from backchannel.api.report_validation import report_definition
from backchannel.api.validation import RECIPIENT_ID, check_text
from backchannel.batch.schedule import next_run
from backchannel.ids import new_id
from backchannel.model import RecipientRecord, ReportDefinition
from backchannel.plugin import Transport
from backchannel.report.compute import build_report, new_run
from backchannel.report.period import parse_period
from backchannel.store import recipients as recipient_store
from backchannel.store import reports as report_store

Context = grpc.aio.ServicerContext[Any, Any]
_REPORT_ID_MAX = 64


def _page(value: int, default: int, most: int) -> int:
    return default if value <= 0 else min(value, most)


def _check_report_id(report_id: str, v: Violations, path: str = "report_id") -> None:
    if not report_id:
        v.add(path, "is required")
    elif len(report_id) > _REPORT_ID_MAX:
        v.add(path, f"must be at most {_REPORT_ID_MAX} characters")


def _may_see(report: ReportDefinition) -> bool:
    """Whether the caller may see (and run) ``report``: its recipient is within the
    caller's grant, and so is every source it covers (a caller narrowed to sources never
    sees a report on every source or on another source)."""
    if not may_read(recipient_id=report.recipient_id):
        return False
    if not grant().source_ids:
        return True
    return not report.every_source and all(may_read(source_id=s) for s in report.source_ids)


class ReportService(report_service_pb2_grpc.ReportServiceServicer):
    def __init__(
        self, pool: asyncpg.Pool, transports: Mapping[str, Transport[Any]] | None = None
    ) -> None:
        self._pool = pool
        # Reports travel as files (Transport.send_file): a recipient whose transport
        # carries none is refused when the report is saved. None: not checked.
        self._transports = transports

    async def _recipient(self, recipient_id: str, v: Violations, path: str) -> RecipientRecord:
        recipient = await recipient_store.get_recipient(self._pool, recipient_id)
        if recipient is None:
            v.add(path, f"no recipient {recipient_id!r}")
        elif self._transports is not None:
            transport = self._transports.get(recipient.transport)
            if transport is not None and not transport.supports_files():
                v.add(
                    path,
                    f"its transport ({recipient.transport}) cannot carry reports yet; use a "
                    "webhook, sftp or email recipient",
                )
        v.raise_if_any()
        assert recipient is not None
        return recipient

    async def _readable(self, report_id: str) -> ReportDefinition:
        report = await report_store.get_report(self._pool, report_id)
        if report is None or not _may_see(report):
            raise not_found("report", report_id, "REPORT_NOT_FOUND")
        return report

    async def CreateReport(
        self, request: report_service_pb2.CreateReportRequest, context: Context
    ) -> report_service_pb2.CreateReportResponse:
        v = Violations()
        wanted = report_definition(request.report, new_id("rpt"), v)
        v.raise_if_any()
        require_recipients([wanted.recipient_id], "report.recipient_id")
        require_subscription(wanted.source_ids)
        await self._recipient(wanted.recipient_id, v, "report.recipient_id")
        audit = audit_entry(
            context,
            "report.create",
            f"reports/{wanted.id}",
            changes=definition_changes(None, wanted),
            recipient_id=wanted.recipient_id,
        )
        now = datetime.now(UTC)
        stored = await report_store.create_report(
            self._pool, wanted, next_run(wanted.cron, wanted.time_zone, now), audit
        )
        return report_service_pb2.CreateReportResponse(report=report_message(stored))

    async def GetReport(
        self, request: report_service_pb2.GetReportRequest, context: Context
    ) -> report_service_pb2.GetReportResponse:
        v = Violations()
        check_text(request, "", v, max_len=200)
        _check_report_id(request.report_id, v)
        v.raise_if_any()
        report = await self._readable(request.report_id)
        runs = await report_store.runs_of_report(
            self._pool, report.id, _page(request.run_limit, 20, 200)
        )
        return report_service_pb2.GetReportResponse(
            report=report_message(report), runs=[run_message(r) for r in runs]
        )

    async def ListReports(
        self, request: report_service_pb2.ListReportsRequest, context: Context
    ) -> report_service_pb2.ListReportsResponse:
        v = Violations()
        check_text(request, "", v, max_len=200)
        if request.recipient_id and not RECIPIENT_ID.fullmatch(request.recipient_id):
            v.add("recipient_id", "is not a recipient id")
        if len(request.page_token) > _REPORT_ID_MAX:
            v.add("page_token", "is not a token returned by ListReports")
        v.raise_if_any()
        if request.recipient_id:
            require_recipients([request.recipient_id])
        size = _page(request.page_size, 50, 500)
        after = request.page_token
        page: list[ReportDefinition] = []
        more = True
        # Reports of recipients outside the caller's grant are skipped, page by page.
        while len(page) <= size and more:
            found = await report_store.list_reports(
                self._pool, request.recipient_id, after, size + 1
            )
            more = len(found) > size
            if found:
                after = found[-1].id
            page += [r for r in found if _may_see(r)]
        shown = page[:size]
        return report_service_pb2.ListReportsResponse(
            reports=[report_message(r) for r in shown],
            next_page_token=shown[-1].id if len(page) > size else "",
        )

    async def UpdateReport(
        self, request: report_service_pb2.UpdateReportRequest, context: Context
    ) -> report_service_pb2.UpdateReportResponse:
        v = Violations()
        _check_report_id(request.report.id, v, "report.id")
        v.raise_if_any()
        old = await self._readable(request.report.id)
        message = type(request.report)()
        message.CopyFrom(request.report)
        if not message.recipient_id:
            message.recipient_id = old.recipient_id
        wanted = report_definition(message, old.id, v)
        if wanted.recipient_id != old.recipient_id:
            v.add("report.recipient_id", "cannot change; make a new report")
        v.raise_if_any()
        require_subscription(wanted.source_ids)
        audit = audit_entry(
            context,
            "report.update",
            f"reports/{old.id}",
            changes=definition_changes(old, wanted),
            recipient_id=old.recipient_id,
        )
        following = next_run(wanted.cron, wanted.time_zone, datetime.now(UTC))
        stored = await report_store.update_report(self._pool, wanted, following, audit)
        if stored is None:
            raise not_found("report", old.id, "REPORT_NOT_FOUND")
        return report_service_pb2.UpdateReportResponse(report=report_message(stored))

    async def DeleteReport(
        self, request: report_service_pb2.DeleteReportRequest, context: Context
    ) -> report_service_pb2.DeleteReportResponse:
        v = Violations()
        check_text(request, "", v, max_len=200)
        _check_report_id(request.report_id, v)
        v.raise_if_any()
        report = await self._readable(request.report_id)
        audit = audit_entry(
            context, "report.delete", f"reports/{report.id}", recipient_id=report.recipient_id
        )
        if not await report_store.delete_report(self._pool, report.id, audit):
            raise not_found("report", report.id, "REPORT_NOT_FOUND")
        return report_service_pb2.DeleteReportResponse()

    async def RunReport(
        self, request: report_service_pb2.RunReportRequest, context: Context
    ) -> report_service_pb2.RunReportResponse:
        v = Violations()
        check_text(request, "", v, max_len=200)
        _check_report_id(request.report_id, v)
        if not request.period:
            v.add("period", "is required: 2026-11, 2026-11-03 or 2026-11-01..2026-11-07")
        else:
            try:
                parse_period(request.period, "UTC")
            except ValueError as error:
                v.add("period", str(error))
        if not request.dry_run:
            check_requested_by(request.requested_by, v)
        v.raise_if_any()
        report = await self._readable(request.report_id)
        period = parse_period(request.period, report.time_zone)
        recipient = await recipient_store.get_recipient(self._pool, report.recipient_id)
        if recipient is None:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "RECIPIENT_NOT_FOUND",
                f"the report's recipient {report.recipient_id!r} no longer exists",
            )
        run_id = "" if request.dry_run else new_id("rrun")
        built = await build_report(self._pool, report, recipient, period, run_id=run_id)
        if request.dry_run:
            return report_service_pb2.RunReportResponse(
                content=built.rendered.body,
                content_type=built.rendered.content_type,
                file_name=built.rendered.file_name,
            )
        who, note = requested_by(request.requested_by)
        audit = audit_entry(
            context,
            "report.run",
            f"reports/{report.id}",
            details=(("period", period.label()), *note),
            recipient_id=report.recipient_id,
        )
        made = await report_store.make_run(
            self._pool,
            new_run(built, run_id, report, period, who),
            audit,
        )
        if not made:
            raise ApiError(
                grpc.StatusCode.ALREADY_EXISTS,
                "PERIOD_ALREADY_RUN",
                f"report {report.id!r} already has a run for {period.label()}: a period is "
                "sent once",
            )
        run = await report_store.run_of_period(self._pool, report.id, period.start)
        assert run is not None
        return report_service_pb2.RunReportResponse(run=run_message(run))
