"""The report document (schema ``backchannel.report/v1``, published as
docs/schemas/report-v1.json): the figures of a report's scope, each of its sources, the
trend against the period before and the benchmark against the rest of the network."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from backchannel.model import ReportDefinition, ReportSection
from backchannel.report.figures import (
    DEFINITIONS,
    Sums,
    changes,
    combined,
    figures,
    network_figures,
)
from backchannel.report.period import Period

SCHEMA_VERSION = "backchannel.report/v1"


def suppression_note(k: int, others: int) -> str:
    return (
        f"The benchmark is not shown: {others} other source(s) had feedback in the period, "
        f"fewer than {k}; a benchmark over so few sources could reveal another source's "
        "figures."
    )


def period_facts(period: Period) -> dict[str, str]:
    return {
        "label": period.label(),
        "first_day": period.first_day.isoformat(),
        "last_day": period.last_day.isoformat(),
        "time_zone": period.time_zone or "UTC",
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
    }


def report_document(
    definition: ReportDefinition,
    period: Period,
    current: Mapping[str, Sums],
    previous: Mapping[str, Sums] | None,
    network: Mapping[str, Sums] | None,
    generated_at: datetime,
    run_id: str = "",
) -> dict[str, Any]:
    """The report for ``period``. ``current`` and ``previous`` hold the scope's sums per
    source in the period and the one before (None without a trend section); ``network``
    every source's sums in the period (None without a benchmark section)."""
    sections = definition.sections
    source_ids = sorted(current) if definition.every_source else list(definition.source_ids)

    def with_trend(of: Sums, before: Sums | None) -> dict[str, Any]:
        found = figures(of, sections)
        if before is not None:
            found["trend"] = changes(found, figures(before, sections), sections)
        return found

    previous_of = (lambda s: previous.get(s, Sums())) if previous is not None else None
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "report": {"id": definition.id, "title": definition.title, "run_id": run_id},
        "period": period_facts(period),
        "scope": {"every_source": definition.every_source, "source_ids": source_ids},
        "sections": [str(s) for s in sections],
        "generated_at": generated_at.isoformat(),
        "total": with_trend(
            combined(current.get(s, Sums()) for s in source_ids),
            combined(previous.get(s, Sums()) for s in source_ids) if previous is not None else None,
        ),
        "sources": [
            {
                "source_id": s,
                **with_trend(current.get(s, Sums()), previous_of(s) if previous_of else None),
            }
            for s in source_ids
        ],
    }
    if previous is not None:
        document["previous_period"] = period_facts(period.previous())
    if ReportSection.BENCHMARK in sections and network is not None:
        document["benchmark"] = benchmark(definition, source_ids, current, network)
    document["definitions"] = DEFINITIONS
    document["footer"] = definition.footer
    return document


def benchmark(
    definition: ReportDefinition,
    source_ids: list[str],
    current: Mapping[str, Sums],
    network: Mapping[str, Sums],
) -> dict[str, Any]:
    """The scope against every other source of the network, pooled; suppressed when
    fewer than k other sources had feedback (so no report reveals another source's
    figures, even by subtracting its own)."""
    k = definition.benchmark_min_sources
    mine = set(source_ids)
    others = {s: sums for s, sums in network.items() if s not in mine and sums.total}
    scope = {s: current.get(s, Sums()) for s in source_ids}
    found: dict[str, Any] = {
        "k": k,
        "other_sources": len(others),
        "suppressed": len(others) < k,
        "note": "",
        "scope": network_figures(scope),
        "network": None,
    }
    if len(others) < k:
        found["note"] = suppression_note(k, len(others))
    else:
        found["network"] = network_figures(others)
    return found
