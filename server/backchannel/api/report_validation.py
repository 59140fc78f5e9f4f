"""The checks of a report definition: every violation found at once, before anything is
stored (INVALID_ARGUMENT listing each)."""

from __future__ import annotations

from backchannel_client.v1 import report_pb2

from backchannel.api.errors import Violations
from backchannel.api.validation import RECIPIENT_ID, check_text
from backchannel.batch.schedule import cron_problem, zone_problem
from backchannel.model import ReportDefinition, ReportSection
from backchannel.report.period import zone_fits_hours

FORMATS = ("", "json", "html")
DEFAULT_MIN_SOURCES = 5
MIN_SOURCES_RANGE = (2, 1000)
MAX_SOURCES = 1000
MAX_SOURCE_ID = 128
MAX_TITLE = 200
MAX_FOOTER = 1000


def report_definition(
    message: report_pb2.Report, report_id: str, v: Violations, path: str = "report"
) -> ReportDefinition:
    """The definition ``message`` asks for; its problems are added to ``v`` (the result
    is only meaningful when there are none)."""
    check_text(message, path, v, max_len=MAX_FOOTER)
    if not RECIPIENT_ID.fullmatch(message.recipient_id):
        v.add(f"{path}.recipient_id", "is required: a recipient id")
    if len(message.title) > MAX_TITLE:
        v.add(f"{path}.title", f"must be at most {MAX_TITLE} characters")
    source_ids = list(message.source_ids)
    if message.every_source and source_ids:
        v.add(f"{path}.source_ids", "must be empty with every_source")
    elif not message.every_source and not source_ids:
        v.add(f"{path}.source_ids", "name at least one source, or set every_source")
    if len(source_ids) > MAX_SOURCES:
        v.add(f"{path}.source_ids", f"has {len(source_ids)} entries; at most {MAX_SOURCES}")
    seen: set[str] = set()
    for index, source_id in enumerate(source_ids):
        if not source_id.strip() or len(source_id) > MAX_SOURCE_ID:
            v.add(f"{path}.source_ids[{index}]", f"must be 1 to {MAX_SOURCE_ID} characters")
        elif source_id in seen:
            v.add(f"{path}.source_ids[{index}]", f"names {source_id!r} twice")
        seen.add(source_id)
    sections: list[ReportSection] = []
    known = {s.value for s in ReportSection}
    for index, name in enumerate(message.sections):
        if name not in known:
            v.add(
                f"{path}.sections[{index}]",
                f"{name!r} is not a section; one of {', '.join(sorted(known))}",
            )
        elif ReportSection(name) in sections:
            v.add(f"{path}.sections[{index}]", f"names {name!r} twice")
        else:
            sections.append(ReportSection(name))
    if message.format not in FORMATS:
        v.add(f"{path}.format", "must be json, html, or empty (html for email, else json)")
    if not message.cron:
        v.add(f"{path}.cron", "is required: a five-field cron expression, e.g. 0 6 * * 1")
    elif problem := cron_problem(message.cron):
        v.add(f"{path}.cron", problem)
    if problem := zone_problem(message.time_zone):
        v.add(f"{path}.time_zone", problem)
    elif message.time_zone and not zone_fits_hours(message.time_zone):
        v.add(
            f"{path}.time_zone",
            "has an offset that is not whole hours; reports count whole UTC hours, so "
            "such zones are not supported yet",
        )
    k = message.benchmark_min_sources
    low, high = MIN_SOURCES_RANGE
    if k and not low <= k <= high:
        v.add(f"{path}.benchmark_min_sources", f"must be 0 (means 5) or from {low} to {high}")
    return ReportDefinition(
        id=report_id,
        recipient_id=message.recipient_id,
        title=message.title,
        source_ids=tuple(source_ids),
        every_source=message.every_source,
        sections=tuple(sections) if message.sections else tuple(ReportSection),
        format=message.format,
        cron=message.cron,
        time_zone=message.time_zone,
        benchmark_min_sources=k or DEFAULT_MIN_SOURCES,
        footer=message.footer,
    )
