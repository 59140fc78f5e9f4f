"""kill -9 of a real ``backchannel serve`` while it builds a batch file and while it uploads
one (to a slow receiver), then a restart on the same database: every feedback lands in
exactly one delivered file, none in two, none lost; a file sent again is the same file
(same batch id, same bytes)."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
from collections import Counter

import asyncpg
from support.batch_calls import batch_recipient, create, run_now
from support.brief_example import brief_example_feedback
from support.feedback_load import SendOutcomes, numbered_requests, send_all
from support.outbox_state import wait_for_succeeded
from support.polling import eventually
from support.postgres_cluster import PostgresCluster
from support.recording_sink import RecordingSink
from support.scratch_database import scratch_database
from support.server_process import ServerLauncher, ServerProcess

LEASE_SECONDS = 3
FIELDS = {"fields": ["feedback_id", "lead_id", "outcome.value"]}


async def _fill(server: ServerProcess, recipient_url: str, count: int, prefix: str) -> set[str]:
    assert server.channel is not None
    await create(
        server.channel,
        batch_recipient(
            "nightly",
            "webhook",
            {"url": recipient_url},
            {},
            {
                "schedule": {"cron": "0 2 * * *", "timeZone": "America/New_York"},
                "file": {
                    "format": "BATCH_FILE_FORMAT_CSV",
                    "compression": "BATCH_COMPRESSION_GZIP",
                },
            },
            FIELDS,
        ),
    )
    outcomes = SendOutcomes()
    requests = numbered_requests(prefix, count, brief_example_feedback(), ["nightly"])
    await send_all(server.feedback, requests, 32, outcomes)
    assert len(outcomes.acknowledged) == count, outcomes.failed
    return {answer.feedback.id for answer in outcomes.acknowledged.values()}


def _feedback_ids(body: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(gzip.decompress(body).decode())))
    assert rows[0] == FIELDS["fields"]
    return [row[0] for row in rows[1:]]


async def _batch_state(database_url: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch("SELECT id, state, spool_oid FROM batches")
    finally:
        await connection.close()


async def _large_objects(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM pg_largeobject_metadata")
        return count
    finally:
        await connection.close()


async def test_a_kill_9_while_a_batch_is_built_loses_and_duplicates_nothing(
    postgres: PostgresCluster,
) -> None:
    count = 20_000
    async with (
        scratch_database(postgres, "batchcrash") as database_url,
        RecordingSink() as sink,
        ServerLauncher(database_url, lease_seconds=LEASE_SECONDS) as servers,
    ):
        first = await servers.start()
        sent = await _fill(first, sink.url(), count, "build")
        assert first.channel is not None
        batch = await run_now(first.channel, "nightly")

        async def rendering() -> bool:
            rows = await _batch_state(database_url)
            return bool(rows) and rows[0]["state"] == "building" and rows[0]["spool_oid"]

        await eventually(rendering, timeout=30, interval=0.005)
        await first.kill()
        [at_kill] = await _batch_state(database_url)
        assert at_kill["state"] == "building", "the kill came after the build"
        assert sink.arrivals == []

        await servers.start()
        assert await wait_for_succeeded(database_url, count, timeout=90)
        assert [row["state"] for row in await _batch_state(database_url)] == ["succeeded"]
        assert {a.webhook_id for a in sink.arrivals} == {batch.id}
        delivered = Counter(_feedback_ids(sink.arrivals[0].body))
        assert set(delivered) == sent, "feedback lost or foreign"
        assert max(delivered.values()) == 1, "feedback twice in the file"
        assert all(a.body == sink.arrivals[0].body for a in sink.arrivals)
        await eventually(lambda: _no_large_objects(database_url), timeout=10)


async def _no_large_objects(database_url: str) -> bool:
    return await _large_objects(database_url) == 0


async def test_a_kill_9_while_a_file_is_uploaded_sends_the_same_file_again(
    postgres: PostgresCluster,
) -> None:
    count = 500
    async with (
        scratch_database(postgres, "batchcrash") as database_url,
        RecordingSink(delay=60) as sink,
        ServerLauncher(database_url, lease_seconds=LEASE_SECONDS) as servers,
    ):
        first = await servers.start()
        sent = await _fill(first, sink.url(), count, "upload")
        assert first.channel is not None
        batch = await run_now(first.channel, "nightly")
        await eventually(lambda: _arrived(sink), timeout=30)
        await first.kill()
        [at_kill] = await _batch_state(database_url)
        assert at_kill["state"] == "in_flight", "the kill did not come during the upload"

        sink.default.delay = 0
        await servers.start()
        assert await wait_for_succeeded(database_url, count, timeout=60)
        assert len(sink.arrivals) >= 2, "the file was not sent again"
        assert {a.webhook_id for a in sink.arrivals} == {batch.id}
        assert len({a.body for a in sink.arrivals}) == 1, "a resend carried other bytes"
        delivered = Counter(_feedback_ids(sink.arrivals[0].body))
        assert set(delivered) == sent and max(delivered.values()) == 1
        [row] = await _batch_state(database_url)
        assert row["state"] == "succeeded"


async def _arrived(sink: RecordingSink) -> bool:
    await asyncio.sleep(0)
    return bool(sink.arrivals)
