"""The durable-delivery floor: an outbox dispatcher reduced to what the design itself asks
of Postgres and HTTP, with none of Backchannel's own work (no feedback document,
formatter, span, retry policy, health, plugin host): claim due rows with SKIP LOCKED and a
lease (commit not waiting for the disk, as Backchannel's claims), POST the body the
webhook transport sends for the brief's example, signed per Standard Webhooks, 64 in
flight, and record each answer durably in batches (an event row, the outbox row moved
on). Tables of its own, one index each on the hot state.

Diagnostic row 2**: what a delivery costs here before Backchannel does anything. Run by
run.py: ``python bench/floor_dispatcher.py --database-url URL --sink URL --count N``. It
loads N due rows, prints ``READY 0``, delivers them all, prints ``RATE <deliveries/s>``
(first claim to the last durable record) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import asyncpg
from common import SIGNING_SECRET

from backchannel_webhook._signing import signature_header, signing_key

IN_FLIGHT = 64
CLAIM_BATCH = 100
SCHEMA = """
CREATE TABLE outbox (
    id text PRIMARY KEY, body bytea NOT NULL, state text NOT NULL,
    attempts int NOT NULL DEFAULT 0, due timestamptz NOT NULL, lease_until timestamptz
);
CREATE INDEX outbox_due ON outbox (due) WHERE state = 'pending';
CREATE TABLE sent (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, outbox_id text NOT NULL,
    status int NOT NULL, latency_us bigint NOT NULL, sent_at timestamptz NOT NULL
);
CREATE INDEX sent_by_outbox ON sent (outbox_id);
"""
CLAIM = """
WITH asynchronous_commit AS MATERIALIZED (
    SELECT set_config('synchronous_commit', 'off', true)
), due AS (
    SELECT id FROM outbox WHERE state = 'pending' AND due <= now()
    ORDER BY due LIMIT $1 FOR UPDATE SKIP LOCKED
)
UPDATE outbox o SET state = 'in_flight', attempts = attempts + 1,
       lease_until = now() + interval '30 seconds'
FROM asynchronous_commit
WHERE o.id = ANY(ARRAY(SELECT id FROM due))
RETURNING o.id, o.body
"""
RECORD = """
WITH sent_rows AS (
    INSERT INTO sent (outbox_id, status, latency_us, sent_at)
    SELECT id, status, latency_us, now()
    FROM unnest($1::text[], $2::int[], $3::bigint[]) AS u (id, status, latency_us)
)
UPDATE outbox o SET state = CASE WHEN u.status BETWEEN 200 AND 299 THEN 'done' ELSE 'pending' END,
       lease_until = NULL
FROM unnest($1::text[], $2::int[]) AS u (id, status)
WHERE o.id = u.id
"""


class FloorDispatcher:
    def __init__(self, pool: asyncpg.Pool, session: aiohttp.ClientSession, sink: str) -> None:
        self._pool, self._session, self._sink = pool, session, sink
        self._keys = [signing_key(SIGNING_SECRET)]
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._results: list[tuple[str, int, int]] = []
        self._results_ready = asyncio.Event()
        self.recorded = 0

    async def claim_loop(self) -> None:
        while True:
            room = IN_FLIGHT - self._in_flight
            if room >= IN_FLIGHT // 2:
                rows = await self._pool.fetch(CLAIM, min(room, CLAIM_BATCH))
                for row in rows:
                    self._in_flight += 1
                    task = asyncio.create_task(self._deliver(row["id"], bytes(row["body"])))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                if not rows and not self._in_flight:
                    return
            self._slot_freed.clear()
            await self._slot_freed.wait()

    async def _deliver(self, delivery_id: str, body: bytes) -> None:
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(self._keys, delivery_id, timestamp, body),
        }
        started = time.perf_counter()
        async with self._session.post(self._sink, data=body, headers=headers) as response:
            await response.read()
            status = response.status
        self._results.append((delivery_id, status, int((time.perf_counter() - started) * 1e6)))
        self._results_ready.set()
        self._in_flight -= 1
        self._slot_freed.set()

    async def record_loop(self, total: int) -> None:
        while self.recorded < total:
            await self._results_ready.wait()
            self._results_ready.clear()
            batch, self._results = self._results, []
            if batch:
                await self._pool.execute(
                    RECORD, [b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch]
                )
                self.recorded += sum(1 for b in batch if 200 <= b[1] <= 299)


async def run(database_url: str, sink: str, count: int, body: bytes) -> float:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=4)
    assert pool is not None
    await pool.execute(SCHEMA)
    await pool.execute(
        "INSERT INTO outbox (id, body, state, due) SELECT 'dlv_' || n, $1, 'pending', now()"
        " FROM generate_series(1, $2::int) AS n",
        body,
        count,
    )
    await pool.execute("ANALYZE outbox")
    print("READY 0", flush=True)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        dispatcher = FloorDispatcher(pool, session, sink)
        started = time.perf_counter()
        recording = asyncio.create_task(dispatcher.record_loop(count))
        await dispatcher.claim_loop()
        await recording
        elapsed = time.perf_counter() - started
    await pool.close()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--body-file", required=True)
    args = parser.parse_args()
    with open(args.body_file, "rb") as handle:
        body = handle.read()
    rate = asyncio.run(run(args.database_url, args.sink, args.count, body))
    print(f"RATE {rate:.1f}", flush=True)


if __name__ == "__main__":
    main()
