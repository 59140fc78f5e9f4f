"""Every figure of a summary report, read from the rollups kept as feedback is accepted,
equals the same figure computed again in the test from the feedback it sent (plain
Python over the list): months and a daylight-saving day in America/New_York, feedback on
the edges of the period, two currencies, an empty period, the trend, and the benchmark
shown or suppressed by k. Every document validates against docs/schemas/report-v1.json."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from backchannel_client.v1 import report_pb2, report_service_pb2, report_service_pb2_grpc
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver
from support.report_feedback import Sent, at, expected_figures, in_days, pooled, send_all
from support.webhook_recipients import create_webhook_recipient

NY = "America/New_York"
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "schemas" / "report-v1.json").read_text())
SCOPE = ["src-a", "src-b"]
OTHERS = ["net-1", "net-2", "net-3"]


def feedback() -> list[Sent]:
    a, b = "src-a", "src-b"
    return [
        # November, src-a: two currencies, returns with reasons, scores, a disposition.
        Sent(a, "conversion", at(NY, 2026, 11, 5, 10), "USD", "100.50"),
        Sent(a, "conversion", at(NY, 2026, 11, 6, 10), "USD", "200.25"),
        Sent(a, "conversion", at(NY, 2026, 11, 7, 10), "EUR", "50.000001"),
        Sent(a, "return", at(NY, 2026, 11, 8, 10), "USD", "4.00", reason="disconnected"),
        Sent(a, "return", at(NY, 2026, 11, 9, 10), reason="disconnected"),
        Sent(a, "return", at(NY, 2026, 11, 10, 10), reason="duplicate"),
        Sent(a, "quality", at(NY, 2026, 11, 11, 10), overall=80, dimensions={"contact": 70}),
        Sent(a, "quality", at(NY, 2026, 11, 12, 10), overall=90.5, dimensions={"contact": 75}),
        Sent(a, "disposition", at(NY, 2026, 11, 13, 10)),
        # The edges of November in New York.
        Sent(a, "conversion", at(NY, 2026, 11, 1, 0), "USD", "1.00"),  # first instant
        Sent(a, "conversion", datetime(2026, 11, 1, 3, 59, 59, tzinfo=UTC), "USD", "7.00"),
        Sent(a, "conversion", at(NY, 2026, 11, 30, 23, 59), "USD", "2.00"),  # last minute
        Sent(a, "conversion", at(NY, 2026, 12, 1, 0), "USD", "9.00"),  # December
        # 2026-11-01 is 25 hours long in New York: 01:30 happens twice, and 23:30 EST is
        # 04:30 UTC the next day.
        Sent(b, "return", datetime(2026, 11, 1, 5, 30, tzinfo=UTC), reason="duplicate"),
        Sent(b, "return", datetime(2026, 11, 1, 6, 30, tzinfo=UTC), reason="fraud"),
        Sent(b, "conversion", datetime(2026, 11, 2, 4, 30, tzinfo=UTC), "USD", "10.00"),
        Sent(b, "conversion", datetime(2026, 11, 2, 5, 0, tzinfo=UTC), "USD", "20.00"),  # 11-02
        # 2026-03-08 is 23 hours long in New York: 05:00 UTC to 04:00 UTC the next day.
        Sent(a, "conversion", datetime(2026, 3, 8, 4, 59, tzinfo=UTC), "USD", "1.00"),  # 03-07
        Sent(a, "conversion", datetime(2026, 3, 8, 5, 0, tzinfo=UTC), "USD", "2.00"),
        Sent(a, "return", datetime(2026, 3, 9, 3, 59, tzinfo=UTC), reason="fraud"),
        Sent(a, "quality", datetime(2026, 3, 9, 4, 0, tzinfo=UTC), overall=10),  # 03-09
        # October (the previous period).
        Sent(a, "conversion", at(NY, 2026, 10, 15, 12), "USD", "300.00"),
        Sent(a, "return", at(NY, 2026, 10, 16, 12), reason="duplicate"),
        Sent(b, "quality", at(NY, 2026, 10, 17, 12), overall=60),
        # The rest of the network, in November.
        Sent("net-1", "conversion", at(NY, 2026, 11, 3, 9), "USD", "5.00"),
        Sent("net-1", "return", at(NY, 2026, 11, 3, 9), reason="fraud"),
        Sent("net-2", "quality", at(NY, 2026, 11, 4, 9), overall=40),
        Sent("net-3", "disposition", at(NY, 2026, 11, 20, 9)),
        Sent("net-3", "conversion", at(NY, 2026, 11, 21, 9), "GBP", "3.50"),
    ]


@pytest.fixture
async def reports(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> AsyncIterator[tuple[report_service_pb2_grpc.ReportServiceStub, list[Sent]]]:
    await create_webhook_recipient(backchannel, "sink", receiver.url, signing_secret)
    items = feedback()
    await send_all(backchannel, "sink", items)
    yield report_service_pb2_grpc.ReportServiceStub(backchannel.channel), items


async def create(
    stub: report_service_pb2_grpc.ReportServiceStub, **fields: Any
) -> report_pb2.Report:
    report = report_pb2.Report(
        recipient_id="sink", title="Weekly", cron="0 6 * * 1", time_zone=NY, **fields
    )
    answer = await stub.CreateReport(report_service_pb2.CreateReportRequest(report=report))
    return answer.report


async def dry_run(
    stub: report_service_pb2_grpc.ReportServiceStub, report_id: str, period: str
) -> dict[str, Any]:
    answer = await stub.RunReport(
        report_service_pb2.RunReportRequest(report_id=report_id, period=period, dry_run=True)
    )
    assert answer.content_type == "application/json"
    document: dict[str, Any] = json.loads(answer.content)
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    return document


def without_trend(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k not in ("trend", "source_id")}


def expected_trend(now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path in (
        "volume.total",
        "conversions.count",
        "conversions.rate",
        "returns.count",
        "returns.rate",
        "quality.average",
    ):
        section, name = path.split(".")
        current, previous = now[section][name], before[section][name]
        current = None if current is None else float(current)
        previous = None if previous is None else float(previous)
        change = None if current is None or previous is None else round(current - previous, 6)
        percent = None if change is None or not previous else round(change / previous * 100, 6)
        found.append(
            {
                "figure": path,
                "current": current,
                "previous": previous,
                "change": change,
                "change_percent": percent,
            }
        )
    return found


def month(items: list[Sent], year: int, number: int, sources: list[str]) -> list[Sent]:
    first = date(year, number, 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return [i for i in in_days(items, first, last, NY) if i.source in sources]


async def test_a_month_in_new_york_matches_the_feedback_sent(reports: Any) -> None:
    stub, items = reports
    report = await create(stub, source_ids=SCOPE)
    document = await dry_run(stub, report.id, "2026-11")
    assert document["period"]["start"] == "2026-11-01T04:00:00+00:00"
    assert document["period"]["end"] == "2026-12-01T05:00:00+00:00"
    november = month(items, 2026, 11, SCOPE)
    october = month(items, 2026, 10, SCOPE)
    assert len(november) == 15  # the edges: first instant and last minute in, the others out
    assert without_trend(document["total"]) == expected_figures(november)
    assert document["total"]["trend"] == expected_trend(
        expected_figures(november), expected_figures(october)
    )
    assert [s["source_id"] for s in document["sources"]] == SCOPE
    for source in document["sources"]:
        mine = [i for i in november if i.source == source["source_id"]]
        assert without_trend(source) == expected_figures(mine)
    revenue = {r["currency"]: r for r in document["total"]["revenue"]}
    assert set(revenue) == {"USD", "EUR"}, "currencies are never added together"
    assert revenue["EUR"]["sum"] == "50.000001"


async def test_the_daylight_saving_day_is_25_hours_of_feedback(reports: Any) -> None:
    stub, items = reports
    report = await create(stub, source_ids=SCOPE)
    document = await dry_run(stub, report.id, "2026-11-01")
    start = datetime.fromisoformat(document["period"]["start"])
    end = datetime.fromisoformat(document["period"]["end"])
    assert end - start == timedelta(hours=25)
    day = [i for i in in_days(items, date(2026, 11, 1), date(2026, 11, 1), NY) if i.source in SCOPE]
    assert {i.at.astimezone(UTC).hour for i in day if i.source == "src-b"} == {5, 6, 4}
    assert without_trend(document["total"]) == expected_figures(day)
    before = [
        i for i in in_days(items, date(2026, 10, 31), date(2026, 10, 31), NY) if i.source in SCOPE
    ]
    assert document["total"]["trend"] == expected_trend(
        expected_figures(day), expected_figures(before)
    )


async def test_the_spring_forward_day_is_23_hours_of_feedback(reports: Any) -> None:
    stub, items = reports
    report = await create(stub, source_ids=SCOPE)
    document = await dry_run(stub, report.id, "2026-03-08")
    start = datetime.fromisoformat(document["period"]["start"])
    end = datetime.fromisoformat(document["period"]["end"])
    assert (start, end - start) == (datetime(2026, 3, 8, 5, tzinfo=UTC), timedelta(hours=23))
    day = [i for i in in_days(items, date(2026, 3, 8), date(2026, 3, 8), NY) if i.source in SCOPE]
    assert len(day) == 2
    assert without_trend(document["total"]) == expected_figures(day)


async def test_an_empty_period_has_zero_counts_and_no_rates(reports: Any) -> None:
    stub, _ = reports
    report = await create(stub, source_ids=SCOPE)
    document = await dry_run(stub, report.id, "2026-08")
    assert without_trend(document["total"]) == expected_figures([])
    assert document["total"]["conversions"]["rate"] is None
    assert document["total"]["revenue"] == []
    assert all(t["change_percent"] is None for t in document["total"]["trend"])


async def test_the_benchmark_is_suppressed_with_a_note_under_k_sources(reports: Any) -> None:
    stub, _ = reports
    report = await create(stub, source_ids=SCOPE)  # k defaults to 5; three other sources
    assert report.benchmark_min_sources == 5
    benchmark = (await dry_run(stub, report.id, "2026-11"))["benchmark"]
    assert benchmark["suppressed"] is True
    assert benchmark["other_sources"] == 3
    assert benchmark["network"] is None
    assert "fewer than 5" in benchmark["note"]


async def test_the_benchmark_pools_the_other_sources_from_k_on(reports: Any) -> None:
    stub, items = reports
    report = await create(stub, source_ids=SCOPE, benchmark_min_sources=3)
    benchmark = (await dry_run(stub, report.id, "2026-11"))["benchmark"]
    assert benchmark["suppressed"] is False
    assert benchmark["note"] == ""
    assert benchmark["network"] == pooled(month(items, 2026, 11, OTHERS))
    assert benchmark["scope"] == pooled(month(items, 2026, 11, SCOPE))


async def test_a_single_source_under_k_gets_no_benchmark_revealing_the_other(
    reports: Any,
) -> None:
    stub, _ = reports
    report = await create(stub, source_ids=["src-a"], benchmark_min_sources=5)
    benchmark = (await dry_run(stub, report.id, "2026-11"))["benchmark"]
    # src-b and three network sources: four others, under 5.
    assert benchmark["other_sources"] == 4
    assert benchmark["suppressed"] is True
    assert benchmark["network"] is None


async def test_a_report_on_every_source_counts_every_source(reports: Any) -> None:
    stub, items = reports
    report = await create(stub, every_source=True, sections=["volume", "revenue"])
    document = await dry_run(stub, report.id, "2026-11")
    november = month(items, 2026, 11, SCOPE + OTHERS)
    expected = expected_figures(november)
    assert document["total"] == {"volume": expected["volume"], "revenue": expected["revenue"]}
    assert document["scope"]["source_ids"] == sorted(SCOPE + OTHERS)
    assert "benchmark" not in document and "trend" not in document["total"]


async def test_an_html_report_has_a_plain_text_alternative_with_the_same_figures(
    reports: Any,
) -> None:
    stub, items = reports
    report = await create(stub, source_ids=SCOPE, format="html")
    answer = await stub.RunReport(
        report_service_pb2.RunReportRequest(report_id=report.id, period="2026-11", dry_run=True)
    )
    assert answer.content_type.startswith("text/html")
    page = answer.content.decode()
    total = expected_figures(month(items, 2026, 11, SCOPE))
    assert f"Feedback</td><td>{total['volume']['total']} (" in page
    assert "USD" in page and "EUR" in page and "disconnected" in page
