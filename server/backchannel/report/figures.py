"""The figures of a summary report, computed from rollup sums (never from feedback rows).

Definitions (the README's "Summary reports" and every report's ``definitions`` say the
same):

* volume: feedback counted by kind, by the hour of its feedback_time;
* outcomes: conversion + return + disposition feedback;
* conversion rate: conversions / outcomes; return rate: returns / outcomes (null when
  there are no outcomes);
* revenue: the values of conversion feedback, summed and averaged per currency,
  currencies never added together;
* quality: the mean of every overall score, and of each named dimension;
* trend: each figure against the period just before (the previous month for a month);
* benchmark: the same rates over every source of the network, pooled, shown only when at
  least k sources had feedback in the period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from backchannel.model import ReportSection

#: A rollup row read by key (an asyncpg Record, or a dict in tests).
Row = Any

KINDS = ("conversion", "return", "quality", "disposition", "attribution")
OUTCOME_KINDS = ("conversion", "return", "disposition")
TOP_REASONS = 5
#: Decimal places of rates, shares and score averages.
RATE_PLACES = 6
MONEY_PLACES = Decimal("0.000001")
#: The figures compared with the previous period (trend) and the network (benchmark).
COMPARED = (
    ("volume.total", ReportSection.VOLUME),
    ("conversions.count", ReportSection.CONVERSIONS),
    ("conversions.rate", ReportSection.CONVERSIONS),
    ("returns.count", ReportSection.RETURNS),
    ("returns.rate", ReportSection.RETURNS),
    ("quality.average", ReportSection.QUALITY),
)

DEFINITIONS = {
    "volume": "Feedback counted by kind, by the hour of its feedback_time (when the outcome "
    "happened; its accept time when not given), in the period's whole days.",
    "outcomes": "Conversion, return and disposition feedback.",
    "conversions.rate": "Conversions / outcomes; null when there are no outcomes.",
    "revenue": "Values of conversion feedback, summed and averaged per currency; "
    "currencies are never added together.",
    "returns.rate": "Returns / outcomes; null when there are no outcomes.",
    "returns.top_reasons": "The most frequent return reasons (code, else text), with their "
    "share of returns.",
    "quality.average": "Mean of every overall score in the period; each dimension likewise.",
    "trend": "Each figure against the period just before (the previous calendar month for "
    "a month): change = current - previous; change_percent = change / previous * 100, null "
    "when previous is 0 or null.",
    "benchmark": "The same rates pooled over every source of the network in the period, and "
    "the average volume per source; suppressed when fewer than k sources had feedback.",
}


@dataclass
class Sums:
    """Rollup sums of one source (or of a whole scope)."""

    by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    #: currency -> (count, sum) of conversion values.
    revenue: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    #: dimension ('' overall) -> (count, sum).
    scores: dict[str, tuple[int, float]] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: Sums) -> None:
        for kind, count in other.by_kind.items():
            self.by_kind[kind] = self.by_kind.get(kind, 0) + count
        for currency, (n, total) in other.revenue.items():
            had = self.revenue.get(currency, (0, Decimal(0)))
            self.revenue[currency] = (had[0] + n, had[1] + total)
        for dimension, (n, s) in other.scores.items():
            had_s = self.scores.get(dimension, (0, 0.0))
            self.scores[dimension] = (had_s[0] + n, had_s[1] + s)
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


def sums_by_source(
    counts: Iterable[Row],
    scores: Iterable[Row],
    reasons: Iterable[Row],
) -> dict[str, Sums]:
    """The rollup rows read for a period, gathered per source."""
    found: dict[str, Sums] = defaultdict(Sums)
    for row in counts:
        sums = found[row["source_id"]]
        sums.by_kind[row["kind"]] = sums.by_kind.get(row["kind"], 0) + row["feedback_count"]
        if row["kind"] == "conversion" and row["currency"] and row["value_count"]:
            n, total = sums.revenue.get(row["currency"], (0, Decimal(0)))
            sums.revenue[row["currency"]] = (n + row["value_count"], total + row["value_sum"])
    for row in scores:
        sums = found[row["source_id"]]
        n, s = sums.scores.get(row["dimension"], (0, 0.0))
        sums.scores[row["dimension"]] = (n + row["score_count"], s + row["score_sum"])
    for row in reasons:
        sums = found[row["source_id"]]
        sums.reasons[row["reason"]] = sums.reasons.get(row["reason"], 0) + row["return_count"]
    return dict(found)


def combined(parts: Iterable[Sums]) -> Sums:
    whole = Sums()
    for part in parts:
        whole.add(part)
    return whole


def ratio(part: float, whole: float) -> float | None:
    return None if not whole else round(part / whole, RATE_PLACES)


def money(value: Decimal) -> str:
    return str(value.quantize(MONEY_PLACES))


def figures(sums: Sums, sections: Iterable[ReportSection]) -> dict[str, Any]:
    """The figures of the chosen sections (trend and benchmark are added by the caller)."""
    chosen = set(sections)
    kinds = sums.by_kind
    outcomes = sum(kinds.get(k, 0) for k in OUTCOME_KINDS)
    found: dict[str, Any] = {}
    if ReportSection.VOLUME in chosen:
        found["volume"] = {"total": sums.total, "by_kind": {k: kinds.get(k, 0) for k in KINDS}}
    if ReportSection.CONVERSIONS in chosen:
        conversions = kinds.get("conversion", 0)
        found["conversions"] = {
            "count": conversions,
            "outcomes": outcomes,
            "rate": ratio(conversions, outcomes),
        }
    if ReportSection.REVENUE in chosen:
        found["revenue"] = [
            {
                "currency": currency,
                "count": n,
                "sum": money(total),
                "average": money(total / n),
            }
            for currency, (n, total) in sorted(sums.revenue.items())
        ]
    if ReportSection.RETURNS in chosen:
        returns = kinds.get("return", 0)
        top = sorted(sums.reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]
        found["returns"] = {
            "count": returns,
            "rate": ratio(returns, outcomes),
            "top_reasons": [
                {"reason": reason, "count": n, "share": ratio(n, returns)} for reason, n in top
            ],
        }
    if ReportSection.QUALITY in chosen:
        n, s = sums.scores.get("", (0, 0.0))
        found["quality"] = {
            "count": n,
            "average": None if not n else round(s / n, RATE_PLACES),
            "dimensions": [
                {"name": name, "count": dn, "average": round(ds / dn, RATE_PLACES)}
                for name, (dn, ds) in sorted(sums.scores.items())
                if name and dn
            ],
        }
    return found


def figure_value(found: Mapping[str, Any], path: str) -> float | None:
    """A compared figure (``conversions.rate``) of a figures mapping; None when absent."""
    section, name = path.split(".")
    value = found.get(section, {}).get(name)
    return None if value is None else float(value)


def changes(
    current: Mapping[str, Any], previous: Mapping[str, Any], sections: Iterable[ReportSection]
) -> list[dict[str, Any]]:
    """Each compared figure of the chosen sections against the previous period."""
    chosen = set(sections)
    found = []
    for path, section in COMPARED:
        if section not in chosen:
            continue
        now, before = figure_value(current, path), figure_value(previous, path)
        change = None if now is None or before is None else round(now - before, RATE_PLACES)
        percent = (
            None if change is None or not before else round(change / before * 100, RATE_PLACES)
        )
        found.append(
            {
                "figure": path,
                "current": now,
                "previous": before,
                "change": change,
                "change_percent": percent,
            }
        )
    return found


def network_figures(network: Mapping[str, Sums]) -> dict[str, Any]:
    """The network's pooled rates and average volume per contributing source."""
    contributing = [s for s in network.values() if s.total]
    whole = combined(contributing)
    outcomes = sum(whole.by_kind.get(k, 0) for k in OUTCOME_KINDS)
    n, s = whole.scores.get("", (0, 0.0))
    return {
        "volume_per_source": ratio(whole.total, len(contributing)),
        "conversion_rate": ratio(whole.by_kind.get("conversion", 0), outcomes),
        "return_rate": ratio(whole.by_kind.get("return", 0), outcomes),
        "quality_average": None if not n else round(s / n, RATE_PLACES),
    }
