"""Report definitions and runs as API messages."""

from __future__ import annotations

from backchannel_client.v1 import report_pb2

from backchannel.api.conversions import timestamp
from backchannel.model import FieldChange, ReportDefinition, ReportRunRow, ReportRunState

RUN_STATE_VALUES = {
    ReportRunState.PENDING: report_pb2.REPORT_RUN_STATE_PENDING,
    ReportRunState.IN_FLIGHT: report_pb2.REPORT_RUN_STATE_IN_FLIGHT,
    ReportRunState.SUCCEEDED: report_pb2.REPORT_RUN_STATE_SUCCEEDED,
    ReportRunState.FAILED: report_pb2.REPORT_RUN_STATE_FAILED,
    ReportRunState.DEAD: report_pb2.REPORT_RUN_STATE_DEAD,
}


def report_message(report: ReportDefinition) -> report_pb2.Report:
    message = report_pb2.Report(
        id=report.id,
        recipient_id=report.recipient_id,
        title=report.title,
        source_ids=list(report.source_ids),
        every_source=report.every_source,
        sections=[str(s) for s in report.sections],
        format=report.format,
        cron=report.cron,
        time_zone=report.time_zone,
        benchmark_min_sources=report.benchmark_min_sources,
        footer=report.footer,
    )
    if report.create_time is not None:
        message.create_time.CopyFrom(timestamp(report.create_time))
    if report.update_time is not None:
        message.update_time.CopyFrom(timestamp(report.update_time))
    if report.next_run_at is not None:
        message.next_run_time.CopyFrom(timestamp(report.next_run_at))
    return message


def run_message(run: ReportRunRow) -> report_pb2.ReportRun:
    return report_pb2.ReportRun(
        id=run.id,
        report_id=run.report_id,
        period_start=timestamp(run.period_start),
        period_end=timestamp(run.period_end),
        state=RUN_STATE_VALUES[run.state],
        attempt_count=run.attempt_count,
        file_name=run.file_name,
        content_type=run.content_type,
        size=run.size,
        sha256=run.sha256,
        feedback_count=run.feedback_count,
        requested_by=run.requested_by,
        reason=run.reason,
        create_time=timestamp(run.create_time),
    )


def definition_changes(
    old: ReportDefinition | None, new: ReportDefinition
) -> tuple[FieldChange, ...]:
    """What an audited create or update changed, field by field."""
    before = old.stored() if old is not None else {}
    return tuple(
        FieldChange(name, "" if name not in before else str(before[name]), str(value))
        for name, value in new.stored().items()
        if before.get(name) != value
    )
