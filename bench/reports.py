"""Summary report computation from the rollups, at scale (figures only; nothing is
asserted). A throwaway Postgres cluster is started and stopped here; loopback only.

    python bench/reports.py                                   # 10,000,000 feedback, 1,000 sources
    python bench/reports.py --feedback 1000000 --sources 100

The rollups a month of ``--feedback`` accepted feedback would leave (per source x UTC
hour x kind x currency, scores per dimension, returns per reason) are generated directly
with SQL (accepting 10M feedback through the API would take hours on 2 cores; the accept
path's own cost is ``python bench/run.py --only accept``). Then the real report code
(``backchannel.report.compute.build_report``) makes November 2026 in America/New_York for:

1. one source, every section (the benchmark reads every source's month);
2. one source, every section but the benchmark;
3. every source (a partner's report), every section.

Each is timed three times; the median is printed with the rollup rows it read.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import asyncpg
from support.postgres_cluster import PostgresCluster

from backchannel.model import RecipientRecord, RecipientState, ReportDefinition, ReportSection
from backchannel.report.compute import build_report
from backchannel.report.period import Period
from backchannel.store.database import create_pool
from backchannel.store.migrations import apply_migrations

ZONE = "America/New_York"
#: Share of each hour's feedback by kind.
KIND_SHARES = (("conversion", 0.40), ("return", 0.15), ("quality", 0.30), ("disposition", 0.15))

GENERATE = """
WITH hours AS (
    SELECT h FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 hour',
                                  interval '1 hour') AS h
), sources AS (
    SELECT 'src-' || lpad(n::text, 5, '0') AS s FROM generate_series(1, $3::int) AS n
)
INSERT INTO feedback_hourly (source_id, hour, kind, currency, feedback_count, value_count,
                             value_sum)
SELECT s, h, k.kind, k.currency, k.n, CASE WHEN k.currency = '' THEN 0 ELSE k.n END,
       CASE WHEN k.currency = '' THEN 0 ELSE k.n * 125.50 END
FROM sources, hours,
     LATERAL (VALUES ('conversion', CASE WHEN extract(hour FROM h)::int % 4 = 0
                                         THEN 'EUR' ELSE 'USD' END, $4::int),
                     ('return', '', $5::int), ('quality', '', $6::int),
                     ('disposition', '', $7::int)) AS k (kind, currency, n)
WHERE k.n > 0
"""
GENERATE_SCORES = """
INSERT INTO feedback_hourly_scores (source_id, hour, dimension, score_count, score_sum)
SELECT source_id, hour, d, feedback_count, feedback_count * 72.5
FROM feedback_hourly, unnest(ARRAY['', 'contact', 'intent']) AS d
WHERE kind = 'quality' AND hour >= $1 AND hour < $2
"""
GENERATE_REASONS = """
INSERT INTO feedback_hourly_reasons (source_id, hour, reason, return_count)
SELECT source_id, hour, r, greatest(1, feedback_count / 3)
FROM feedback_hourly, unnest(ARRAY['disconnected', 'duplicate', 'fraud']) AS r
WHERE kind = 'return' AND hour >= $1 AND hour < $2
"""


async def generate(pool: asyncpg.Pool, period: Period, sources: int, feedback: int) -> int:
    hours = int((period.end - period.start).total_seconds() // 3600)
    per_hour = feedback / (sources * hours)
    counts = [max(0, round(per_hour * share)) for _, share in KIND_SHARES]
    async with pool.acquire() as connection:
        await connection.execute(GENERATE, period.start, period.end, sources, *counts)
        await connection.execute(GENERATE_SCORES, period.start, period.end)
        await connection.execute(GENERATE_REASONS, period.start, period.end)
        # The previous month for the trend: the first source only is enough (the trend reads
        # the scope's sources only).
        previous = period.previous()
        await connection.execute(GENERATE, previous.start, previous.end, 1, *counts)
        await connection.execute("VACUUM ANALYZE")
        total: int = await connection.fetchval("SELECT sum(feedback_count) FROM feedback_hourly")
        return total


def report(
    report_id: str, every_source: bool, sections: tuple[ReportSection, ...]
) -> ReportDefinition:
    return ReportDefinition(
        id=report_id, recipient_id="partner", title="bench",
        source_ids=() if every_source else ("src-00001",), every_source=every_source,
        sections=sections, format="json", cron="0 6 1 * *", time_zone=ZONE,
        benchmark_min_sources=5, footer="",
    )  # fmt: skip


async def main(feedback: int, sources: int) -> None:
    cluster = PostgresCluster()
    cluster.init()
    cluster.start()
    try:
        admin = await asyncpg.connect(cluster.url())
        await admin.execute("CREATE DATABASE bench")
        await admin.close()
        pool = await create_pool(cluster.url("bench"), 4)
        async with pool.acquire() as connection:
            await apply_migrations(connection)
        period = Period(date(2026, 11, 1), date(2026, 11, 30), ZONE)
        started = time.perf_counter()
        total = await generate(pool, period, sources, feedback)
        rows = await pool.fetchval(
            "SELECT (SELECT count(*) FROM feedback_hourly) + (SELECT count(*) FROM"
            " feedback_hourly_scores) + (SELECT count(*) FROM feedback_hourly_reasons)"
        )
        print(
            f"generated rollups of {total:,} feedback over {sources:,} sources "
            f"({rows:,} rollup rows) in {time.perf_counter() - started:.1f} s"
        )
        now = datetime.now(UTC)
        recipient = RecipientRecord(
            id="partner", display_name="", recipient_type="partner", transport="webhook",
            transport_settings={}, sealed_secrets={}, format="json", format_options={},
            subscribed_kinds=(), subscribed_source_ids=(), state=RecipientState.ACTIVE,
            revision=1, create_time=now, update_time=now,
        )  # fmt: skip
        every = tuple(ReportSection)
        without_benchmark = tuple(s for s in every if s != ReportSection.BENCHMARK)
        cases = [
            ("one source, every section", report("one", False, every)),
            ("one source, no benchmark", report("lean", False, without_benchmark)),
            ("every source, every section", report("all", True, every)),
        ]
        print(f"{'report':<32} {'median s':>9} {'runs s':>24} {'bytes':>12}")
        for name, definition in cases:
            times = []
            size = 0
            for _ in range(3):
                begun = time.perf_counter()
                built = await build_report(pool, definition, recipient, period)
                times.append(time.perf_counter() - begun)
                size = len(built.rendered.body)
            runs = ", ".join(f"{t:.3f}" for t in times)
            print(f"{name:<32} {statistics.median(times):>9.3f} {runs:>24} {size:>12,}")
        await pool.close()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feedback", type=int, default=10_000_000)
    parser.add_argument("--sources", type=int, default=1000)
    options = parser.parse_args()
    asyncio.run(main(options.feedback, options.sources))
