"""Summary reports, for :class:`Client`: create, list, see, change and delete report
definitions, and run one now for a period (or render it without sending)."""

from __future__ import annotations

from typing import Any

import grpc

from backchannel_client._generated.backchannel.v1 import (
    report_pb2,
    report_service_pb2,
    report_service_pb2_grpc,
)


class ReportCalls:
    """Mixed into :class:`Client`, which provides ``_unary`` and ``_channel``."""

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        return getattr(self, "_unary")(method, request, timeout)  # noqa: B009

    @property
    def _report_stub(self) -> report_service_pb2_grpc.ReportServiceStub:
        channel: grpc.Channel = getattr(self, "_channel")  # noqa: B009
        return report_service_pb2_grpc.ReportServiceStub(channel)

    def create_report(
        self, report: report_pb2.Report, *, timeout: float | None = None
    ) -> report_pb2.Report:
        """Stores a report definition; the stored report (with its id)."""
        request = report_service_pb2.CreateReportRequest(report=report)
        answer: report_service_pb2.CreateReportResponse = self._call(
            self._report_stub.CreateReport, request, timeout
        )
        return answer.report

    def get_report(
        self, report_id: str, *, run_limit: int = 0, timeout: float | None = None
    ) -> report_service_pb2.GetReportResponse:
        """A report and its latest runs."""
        request = report_service_pb2.GetReportRequest(report_id=report_id, run_limit=run_limit)
        answer: report_service_pb2.GetReportResponse = self._call(
            self._report_stub.GetReport, request, timeout
        )
        return answer

    def list_reports(
        self, *, recipient_id: str = "", page_size: int = 0, page_token: str = "",
        timeout: float | None = None,
    ) -> report_service_pb2.ListReportsResponse:  # fmt: skip
        """One page of reports, by id."""
        request = report_service_pb2.ListReportsRequest(
            recipient_id=recipient_id, page_size=page_size, page_token=page_token
        )
        answer: report_service_pb2.ListReportsResponse = self._call(
            self._report_stub.ListReports, request, timeout
        )
        return answer

    def update_report(
        self, report: report_pb2.Report, *, timeout: float | None = None
    ) -> report_pb2.Report:
        """Replaces a report's definition (``report.id`` names it)."""
        request = report_service_pb2.UpdateReportRequest(report=report)
        answer: report_service_pb2.UpdateReportResponse = self._call(
            self._report_stub.UpdateReport, request, timeout
        )
        return answer.report

    def delete_report(self, report_id: str, *, timeout: float | None = None) -> None:
        """Deletes a report: no further runs are made."""
        request = report_service_pb2.DeleteReportRequest(report_id=report_id)
        self._call(self._report_stub.DeleteReport, request, timeout)

    def run_report(
        self, report_id: str, period: str, *, dry_run: bool = False, requested_by: str = "",
        timeout: float | None = None,
    ) -> report_service_pb2.RunReportResponse:  # fmt: skip
        """Runs a report now for ``period`` (``2026-11``, ``2026-11-03`` or
        ``2026-11-01..2026-11-07``), or with ``dry_run`` returns it rendered, unsent."""
        request = report_service_pb2.RunReportRequest(
            report_id=report_id, period=period, dry_run=dry_run, requested_by=requested_by
        )
        answer: report_service_pb2.RunReportResponse = self._call(
            self._report_stub.RunReport, request, timeout
        )
        return answer


class AsyncReportCalls:
    """The same calls for :class:`AsyncClient`."""

    async def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        return await getattr(self, "_unary")(method, request, timeout)  # noqa: B009

    @property
    def _report_stub(self) -> report_service_pb2_grpc.ReportServiceStub:
        channel: grpc.aio.Channel = getattr(self, "_channel")  # noqa: B009
        return report_service_pb2_grpc.ReportServiceStub(channel)

    async def create_report(
        self, report: report_pb2.Report, *, timeout: float | None = None
    ) -> report_pb2.Report:
        """Stores a report definition; the stored report (with its id)."""
        request = report_service_pb2.CreateReportRequest(report=report)
        answer: report_service_pb2.CreateReportResponse = await self._call(
            self._report_stub.CreateReport, request, timeout
        )
        return answer.report

    async def get_report(
        self, report_id: str, *, run_limit: int = 0, timeout: float | None = None
    ) -> report_service_pb2.GetReportResponse:
        """A report and its latest runs."""
        request = report_service_pb2.GetReportRequest(report_id=report_id, run_limit=run_limit)
        answer: report_service_pb2.GetReportResponse = await self._call(
            self._report_stub.GetReport, request, timeout
        )
        return answer

    async def list_reports(
        self, *, recipient_id: str = "", page_size: int = 0, page_token: str = "",
        timeout: float | None = None,
    ) -> report_service_pb2.ListReportsResponse:  # fmt: skip
        """One page of reports, by id."""
        request = report_service_pb2.ListReportsRequest(
            recipient_id=recipient_id, page_size=page_size, page_token=page_token
        )
        answer: report_service_pb2.ListReportsResponse = await self._call(
            self._report_stub.ListReports, request, timeout
        )
        return answer

    async def update_report(
        self, report: report_pb2.Report, *, timeout: float | None = None
    ) -> report_pb2.Report:
        """Replaces a report's definition (``report.id`` names it)."""
        request = report_service_pb2.UpdateReportRequest(report=report)
        answer: report_service_pb2.UpdateReportResponse = await self._call(
            self._report_stub.UpdateReport, request, timeout
        )
        return answer.report

    async def delete_report(self, report_id: str, *, timeout: float | None = None) -> None:
        """Deletes a report: no further runs are made."""
        request = report_service_pb2.DeleteReportRequest(report_id=report_id)
        await self._call(self._report_stub.DeleteReport, request, timeout)

    async def run_report(
        self, report_id: str, period: str, *, dry_run: bool = False, requested_by: str = "",
        timeout: float | None = None,
    ) -> report_service_pb2.RunReportResponse:  # fmt: skip
        """Runs a report now for ``period`` (``2026-11``, ``2026-11-03`` or
        ``2026-11-01..2026-11-07``), or with ``dry_run`` returns it rendered, unsent."""
        request = report_service_pb2.RunReportRequest(
            report_id=report_id, period=period, dry_run=dry_run, requested_by=requested_by
        )
        answer: report_service_pb2.RunReportResponse = await self._call(
            self._report_stub.RunReport, request, timeout
        )
        return answer
