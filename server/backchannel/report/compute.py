"""A report for a period: the rollup sums read (the period, the one before for the trend,
every source for the benchmark), the document made, and rendered in the report's format."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from backchannel.model import RecipientRecord, ReportDefinition, ReportSection
from backchannel.report.document import report_document
from backchannel.report.figures import Sums, sums_by_source
from backchannel.report.period import Period
from backchannel.report.render import RenderedReport, render
from backchannel.store import reports as report_store
from backchannel.store.queries import Database


@dataclass(frozen=True)
class BuiltReport:
    document: dict[str, Any]
    rendered: RenderedReport
    sha256: str
    #: Feedback of the scope counted in the period.
    feedback_count: int


def new_run(
    built: BuiltReport, run_id: str, report: ReportDefinition, period: Period, requested_by: str
) -> report_store.NewReportRun:
    """The run to store for ``built``: its bytes, sent as they are on every attempt."""
    return report_store.NewReportRun(
        id=run_id,
        report_id=report.id,
        recipient_id=report.recipient_id,
        period_start=period.start,
        period_end=period.end,
        requested_by=requested_by,
        file_name=built.rendered.file_name,
        content_type=built.rendered.content_type,
        content=built.rendered.body,
        text_alternative=built.rendered.text,
        sha256=built.sha256,
        feedback_count=built.feedback_count,
    )


def report_format(definition: ReportDefinition, recipient: RecipientRecord) -> str:
    if definition.format:
        return definition.format
    return "html" if recipient.transport == "email" else "json"


async def _sums(
    database: Database, period: Period, source_ids: tuple[str, ...] | None
) -> dict[str, Sums]:
    rows = await report_store.rollup_rows(database, period.start, period.end, source_ids)
    return sums_by_source(rows.counts, rows.scores, rows.reasons)


async def build_report(
    database: Database,
    definition: ReportDefinition,
    recipient: RecipientRecord,
    period: Period,
    *,
    run_id: str = "",
    generated_at: datetime | None = None,
) -> BuiltReport:
    scope = None if definition.every_source else definition.source_ids
    current = await _sums(database, period, scope)
    previous = (
        await _sums(database, period.previous(), scope)
        if ReportSection.TREND in definition.sections
        else None
    )
    network = (
        await _sums(database, period, None)
        if ReportSection.BENCHMARK in definition.sections
        else None
    )
    document = report_document(
        definition,
        period,
        current,
        previous,
        network,
        generated_at or datetime.now(UTC),
        run_id=run_id,
    )
    rendered = render(document, report_format(definition, recipient))
    return BuiltReport(
        document=document,
        rendered=rendered,
        sha256=hashlib.sha256(rendered.body).hexdigest(),
        feedback_count=sum(s.total for s in current.values()),
    )
