"""Batch files at scale, against floors measured in the same run (figures only; nothing is
asserted). Loopback only, everything started here and stopped by pid at the end.

    python bench/batch.py                 # 200,000 rows (a few minutes on 2 cores)
    python bench/batch.py --rows 1000000  # the issue's 1M-row case

Rows:
1. floor: ``COPY (SELECT ...) TO STDOUT WITH CSV`` of the same rows (the batch's member
   rows joined to their feedback), read by asyncpg and thrown away.
2. CSV (gzip) built by the real builder: rows/s (and its ratio to the floor), CPU per row,
   RSS growth of this process while it builds.
3. XLSX built the same way.
4. The CSV file uploaded over SFTP to a real OpenSSH sshd by the real transport, streamed
   from the spool: seconds, RSS growth.
5. Individual deliveries/s (webhook to a local aiohttp sink, the real delivery engine in
   this process) without a batch, then while a batch of ``--rows`` rows is built in the same
   process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import asyncpg
from aiohttp import web
from support.brief_example import brief_example_feedback
from support.postgres_cluster import PostgresCluster
from support.sftp_server import fresh_remote_dir, running_sshd

from backchannel.batch.builder import BatchBuilder
from backchannel.batch.sender import perform_batch_attempt
from backchannel.delivery.attempt import AttemptSettings
from backchannel.delivery.engine import DeliveryEngine
from backchannel.model import RecipientRecord, RecipientState
from backchannel.process_setup import started_plugins
from backchannel.recipient_transport import PreparedRecipients
from backchannel.settings import Settings
from backchannel.store import batches as batch_store
from backchannel.store import recipients as recipient_store
from backchannel.store.database import create_pool
from backchannel.store.deliveries import RecipientRevisions
from backchannel.store.migrations import apply_migrations

INDIVIDUAL = 3000


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.asynccontextmanager
async def rss_peak() -> AsyncIterator[dict[str, float]]:
    """Samples this process's RSS every 50 ms; yields a dict filled with base and peak."""
    found = {"base": rss_mb(), "peak": rss_mb()}

    async def sample() -> None:
        while True:
            found["peak"] = max(found["peak"], rss_mb())
            await asyncio.sleep(0.05)

    task = asyncio.create_task(sample())
    try:
        yield found
    finally:
        task.cancel()
        found["peak"] = max(found["peak"], rss_mb())


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def recipient(recipient_id: str, transport: str, settings: dict[str, Any], fmt: str,
              secrets: dict[str, Any] | None = None) -> RecipientRecord:  # fmt: skip
    now = datetime.now(UTC)
    return RecipientRecord(
        id=recipient_id, display_name="", recipient_type="system", transport=transport,
        transport_settings=settings, secret_settings=secrets or {}, format="csv",
        format_options={"fields": ["feedback_id", "lead_id", "click_id", "outcome.status",
                                   "outcome.value", "feedback_date", "quality.overall_score"]},
        subscribed_kinds=(), subscribed_source_ids=(), state=RecipientState.ACTIVE, revision=1,
        create_time=now, update_time=now,
        batch={"schedule": {"cron": "0 2 * * *"},
               "file": {"format": f"BATCH_FILE_FORMAT_{fmt.upper()}",
                        "compression": f"BATCH_COMPRESSION_{_COMPRESSION[fmt]}"}},
    )  # fmt: skip


_COMPRESSION = {"csv": "GZIP", "xlsx": "NONE"}


async def load_rows(pool: asyncpg.Pool, recipient_id: str, rows: int, state: str) -> None:
    """``rows`` feedback in loads of 100,000 (one statement each)."""
    for start in range(0, rows, 100_000):
        await _load(pool, recipient_id, min(100_000, rows - start), state)


async def _load(pool: asyncpg.Pool, recipient_id: str, rows: int, state: str) -> None:
    """``rows`` feedback (the brief's example) each with one delivery to ``recipient_id``,
    written with generate_series: loading is not what is measured. Each record gets its
    own feedback id and click id (protobuf fields appended to the serialized example, which
    parsers merge), so rows differ and compress as real ones would, not a thousandfold."""
    record = brief_example_feedback().SerializeToString()
    tag = uuid.uuid4().hex[:8]
    await pool.execute(
        """
        INSERT INTO feedback (id, request_id, request_digest, kind, lead_id, source_id, record,
                              response, accept_time)
        SELECT 'fb_' || $2 || '_' || i, 'rq_' || $2 || '_' || i, '\\x00', 'conversion',
               'LC' || i, 'SOURCE_ABC',
               $1 || '\\x0a'::bytea || set_byte('\\x00'::bytea, 0, length('fb_' || $2 || '_' || i))
                  || convert_to('fb_' || $2 || '_' || i, 'UTF8')
                  || '\\x1a222a20'::bytea || convert_to(md5(i::text), 'UTF8'),
               '\\x00', now() - interval '1 hour'
        FROM generate_series(1, $3) AS i
        """,
        record, tag, rows,
    )  # fmt: skip
    await pool.execute(
        """
        INSERT INTO deliveries (id, feedback_id, recipient_id, lead_id, state, next_attempt_time,
                                create_time, update_time, policy_start_time)
        SELECT 'dlv_' || $1 || '_' || i, 'fb_' || $1 || '_' || i, $2, 'LC' || i, $4,
               now(), now() - interval '1 hour', now(), now()
        FROM generate_series(1, $3) AS i
        """,
        tag, recipient_id, rows, state,
    )  # fmt: skip


async def copy_floor(pool: asyncpg.Pool, batch_id: str) -> tuple[float, int]:
    counted = [0]

    async def sink(data: bytes) -> None:
        counted[0] += len(data)

    started = time.perf_counter()
    async with pool.acquire() as connection:
        await connection.copy_from_query(
            "SELECT d.id, d.feedback_id, f.lead_id, f.source_id, f.record FROM deliveries d "
            "JOIN feedback f ON f.id = d.feedback_id WHERE d.batch_id = $1 "
            "ORDER BY d.create_time, d.id",
            batch_id, output=sink, format="csv",
        )  # fmt: skip
    return time.perf_counter() - started, counted[0]


async def build(pool: asyncpg.Pool, record: RecipientRecord, rows: int) -> dict[str, float]:
    builder = BatchBuilder(pool, None)
    now = datetime.now(UTC)
    taken = await builder.take(record, period_start=None, period_end=now, run_time=now,
                               lease_seconds=3600)  # fmt: skip
    assert taken is not None and taken.member_count == rows, taken
    floor_seconds, floor_bytes = await copy_floor(pool, taken.batch_id)
    cpu_before, started = cpu(), time.perf_counter()
    async with rss_peak() as rss:
        await builder.build(taken.batch_id, taken.lease_token, record)
    seconds, used = time.perf_counter() - started, cpu() - cpu_before
    batch = await batch_store.get_batch(pool, taken.batch_id)
    assert batch is not None and batch.row_count == rows
    return {
        "batch": taken.batch_id,  # type: ignore[dict-item]
        "floor_rows_per_s": rows / floor_seconds, "floor_mb": floor_bytes / 1e6,
        "rows_per_s": rows / seconds, "ratio": floor_seconds / seconds,
        "cpu_us_per_row": used / rows * 1e6, "rss_growth_mb": rss["peak"] - rss["base"],
        "file_mb": batch.size / 1e6, "seconds": seconds,
    }  # fmt: skip


async def build_through(
    engine: DeliveryEngine, record: RecipientRecord, rows: int, ready: asyncio.Event
) -> None:
    """A batch of ``rows`` built by the engine's own builder (the one that yields to the
    engine's individual deliveries); ``ready`` is set once its members are taken."""
    now = datetime.now(UTC)
    builder = engine.batches.builder
    taken = await builder.take(record, period_start=None, period_end=now, run_time=now,
                               lease_seconds=3600)  # fmt: skip
    assert taken is not None and taken.member_count == rows
    ready.set()
    await builder.build(taken.batch_id, taken.lease_token, record)


async def upload(pool: asyncpg.Pool, settings: Settings) -> dict[str, float]:
    plugins = await started_plugins(settings)
    try:
        [claimed] = await batch_store.claim_due_batches(pool, 3600, 1, RecipientRevisions())
        attempt_settings = AttemptSettings((0.0,), 600.0, "bench")
        started = time.perf_counter()
        async with rss_peak() as rss:
            done = await perform_batch_attempt(
                pool, claimed, plugins, attempt_settings, PreparedRecipients()
            )
        seconds = time.perf_counter() - started
        assert done.outcome.event.processing_status == "succeeded", done.outcome.event
        return {"seconds": seconds, "mb": claimed.batch.size / 1e6,
                "rss_growth_mb": rss["peak"] - rss["base"]}  # fmt: skip
    finally:
        for transport in plugins.transports.values():
            await transport.aclose()


Background = Callable[[DeliveryEngine, asyncio.Event], Awaitable[None]]


async def individual_rate(
    pool: asyncpg.Pool, settings: Settings, during: Background | None
) -> float:
    """Deliveries/s of INDIVIDUAL pending deliveries to the sink, by the real engine; with
    ``during``, started once it sets its event (the batch's rendering has begun), while it
    runs in the same process, through the same engine's batch builder."""
    arrivals = [0]

    async def handle(_request: web.Request) -> web.Response:
        arrivals[0] += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sink_id = f"sink-{uuid.uuid4().hex[:6]}"
    await recipient_store.create_recipient(
        pool, replace(recipient(sink_id, "webhook", {"url": f"http://127.0.0.1:{port}/hook"},
                                "csv"), batch=None),
    )  # fmt: skip
    plugins = await started_plugins(settings)
    engine = DeliveryEngine(pool, plugins, settings)
    ready = asyncio.Event()
    background = asyncio.create_task(during(engine, ready)) if during is not None else None
    if background is not None:
        await ready.wait()
    await load_rows(pool, sink_id, INDIVIDUAL, "pending")
    started = time.perf_counter()
    engine.start()
    engine.wake()
    while arrivals[0] < INDIVIDUAL and time.perf_counter() - started < 300:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    rate = arrivals[0] / (time.perf_counter() - started)
    still_building = background is not None and not background.done()
    await engine.stop()
    if background is not None:
        await background
    for transport in plugins.transports.values():
        await transport.aclose()
    await runner.cleanup()
    return rate if background is None or still_building else -rate


async def main(rows: int, only: str | None) -> None:
    cluster = PostgresCluster()
    cluster.init()
    cluster.start()
    try:
        admin = await asyncpg.connect(cluster.url())
        await admin.execute("CREATE DATABASE bench")
        await admin.close()
        url = cluster.url("bench")
        pool = await create_pool(url, 8)
        async with pool.acquire() as connection:
            await apply_migrations(connection)
        settings = Settings(
            database_url=url,
            outbound_allow_networks=(  # type: ignore[arg-type]
                __import__("ipaddress").ip_network("127.0.0.0/8"),
            ),
            poll_interval_seconds=0.2,
        )
        print(f"rows per batch: {rows:,}")
        with running_sshd() as sshd, fresh_remote_dir(sshd) as remote:
            sftp = {"host": sshd.host, "port": sshd.port, "username": sshd.account.username,
                    "directory": str(remote), "known_hosts": sshd.known_hosts_line()}  # fmt: skip
            for fmt in ("csv", "xlsx") if only != "individual" else ():
                record = recipient(f"batch-{fmt}", "sftp", sftp, fmt,
                                   {"password": sshd.account.password})  # fmt: skip
                await recipient_store.create_recipient(pool, record)
                await load_rows(pool, record.id, rows, "awaiting_batch")
                figures = await build(pool, record, rows)
                print(
                    f"{fmt:>4}: floor COPY {figures['floor_rows_per_s']:,.0f} rows/s | built "
                    f"{figures['rows_per_s']:,.0f} rows/s = {figures['ratio']:.2f}x floor, "
                    f"{figures['cpu_us_per_row']:.1f} us CPU/row, RSS +"
                    f"{figures['rss_growth_mb']:.1f} MB, file {figures['file_mb']:.1f} MB in "
                    f"{figures['seconds']:.1f} s"
                )
                if fmt == "csv":
                    sent = await upload(pool, settings)
                    print(f"  sftp upload of {sent['mb']:.1f} MB: {sent['seconds']:.1f} s, RSS +"
                          f"{sent['rss_growth_mb']:.1f} MB")  # fmt: skip
            big = recipient("batch-during", "sftp", sftp, "csv",
                            {"password": sshd.account.password})  # fmt: skip
            await recipient_store.create_recipient(pool, big)

            async def taking(engine: DeliveryEngine, ready: asyncio.Event) -> None:
                ready.set()  # measured while the members are taken (one transaction)
                await build_through(engine, big, rows, asyncio.Event())

            async def rendering(engine: DeliveryEngine, ready: asyncio.Event) -> None:
                await build_through(engine, big, rows, ready)

            phases: tuple[tuple[str, Background], ...] = (
                ()
                if only == "files"
                else (("taking its members", taking), ("rendering it", rendering))
            )

            for phase, during_phase in phases:
                await load_rows(pool, big.id, rows, "awaiting_batch")
                # The floor measured right before, under the same conditions.
                alone = await individual_rate(pool, settings, None)
                rate = await individual_rate(pool, settings, during_phase)
                note = "" if rate > 0 else " (the phase ended before the deliveries did)"
                print(f"individual deliveries/s: {alone:,.0f} alone, {abs(rate):,.0f} while "
                      f"{phase} ({rows:,} rows) = {abs(rate) / alone:.2f}x{note}")  # fmt: skip
        await pool.close()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument(
        "--only", choices=("files", "individual"), help="only rows 1-4, or only row 5"
    )
    arguments = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the cluster and the sshd started here are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    asyncio.run(main(arguments.rows, arguments.only))
