"""Feedback sent through the real API for report tests, and the report figures computed
again, independently, from that same list in plain Python (no rollups, no SQL): what a
report must say."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from backchannel_client.v1 import feedback_pb2, feedback_service_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from support.in_process_server import RunningServer

KIND_VALUES = {
    "conversion": feedback_pb2.FEEDBACK_KIND_CONVERSION,
    "return": feedback_pb2.FEEDBACK_KIND_RETURN,
    "quality": feedback_pb2.FEEDBACK_KIND_QUALITY,
    "disposition": feedback_pb2.FEEDBACK_KIND_DISPOSITION,
    "attribution": feedback_pb2.FEEDBACK_KIND_ATTRIBUTION,
}


@dataclass(frozen=True)
class Sent:
    source: str
    kind: str
    at: datetime
    currency: str = ""
    amount: str = ""
    overall: float | None = None
    dimensions: dict[str, float] = field(default_factory=dict)
    reason: str = ""


def message(item: Sent) -> feedback_pb2.Feedback:
    feedback = feedback_pb2.Feedback(kind=KIND_VALUES[item.kind])
    feedback.lead.lead_id = f"lead-{uuid.uuid4().hex[:12]}"
    feedback.lead.source_id = item.source
    stamp = Timestamp()
    stamp.FromDatetime(item.at)
    feedback.feedback_time.CopyFrom(stamp)
    if item.currency:
        feedback.outcome.status = item.kind
        feedback.outcome.value.currency_code = item.currency
        feedback.outcome.value.amount = item.amount
    if item.overall is not None:
        feedback.quality.overall_score = item.overall
    for name, score in item.dimensions.items():
        feedback.quality.dimensions[name] = score
    if item.reason:
        feedback.return_details.reason_code = item.reason
    return feedback


async def send_all(running: RunningServer, recipient_id: str, items: list[Sent]) -> None:
    for item in items:
        await running.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id=str(uuid.uuid4()), feedback=message(item), recipient_ids=[recipient_id]
            )
        )


def in_days(items: list[Sent], first: date, last: date, zone: str) -> list[Sent]:
    tz = ZoneInfo(zone)
    return [i for i in items if first <= i.at.astimezone(tz).date() <= last]


def expected_figures(items: list[Sent]) -> dict[str, Any]:
    kinds = Counter(i.kind for i in items)
    outcomes = kinds["conversion"] + kinds["return"] + kinds["disposition"]

    def rate(part: int) -> float | None:
        return round(part / outcomes, 6) if outcomes else None

    revenue: dict[str, list[Decimal]] = {}
    for i in items:
        if i.kind == "conversion" and i.currency:
            revenue.setdefault(i.currency, []).append(Decimal(i.amount))
    reasons = Counter(i.reason for i in items if i.kind == "return")
    overall = [i.overall for i in items if i.overall is not None]
    dimensions: dict[str, list[float]] = {}
    for i in items:
        for name, score in i.dimensions.items():
            dimensions.setdefault(name, []).append(score)
    q6 = Decimal("0.000001")
    return {
        "volume": {
            "total": len(items),
            "by_kind": {k: kinds[k] for k in KIND_VALUES},
        },
        "conversions": {
            "count": kinds["conversion"],
            "outcomes": outcomes,
            "rate": rate(kinds["conversion"]),
        },
        "revenue": [
            {
                "currency": currency,
                "count": len(values),
                "sum": str(sum(values, Decimal(0)).quantize(q6)),
                "average": str((sum(values, Decimal(0)) / len(values)).quantize(q6)),
            }
            for currency, values in sorted(revenue.items())
        ],
        "returns": {
            "count": kinds["return"],
            "rate": rate(kinds["return"]),
            "top_reasons": [
                {"reason": reason, "count": n, "share": round(n / kinds["return"], 6)}
                for reason, n in sorted(reasons.items(), key=lambda x: (-x[1], x[0]))[:5]
            ],
        },
        "quality": {
            "count": len(overall),
            "average": round(sum(overall) / len(overall), 6) if overall else None,
            "dimensions": [
                {"name": name, "count": len(v), "average": round(sum(v) / len(v), 6)}
                for name, v in sorted(dimensions.items())
            ],
        },
    }


def pooled(items: list[Sent]) -> dict[str, Any]:
    """The benchmark's network figures of ``items``, pooled."""
    f = expected_figures(items)
    sources = {i.source for i in items}
    return {
        "volume_per_source": round(len(items) / len(sources), 6) if sources else None,
        "conversion_rate": f["conversions"]["rate"],
        "return_rate": f["returns"]["rate"],
        "quality_average": f["quality"]["average"],
    }


def at(zone: str, *parts: int) -> datetime:
    """A wall time in ``zone`` (first occurrence when repeated)."""
    return datetime(*parts, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


ONE_HOUR = timedelta(hours=1)
