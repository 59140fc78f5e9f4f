"""The durable-accept floor: a bare grpc.aio server that stores each SendFeedback request's
bytes durably before answering, group-committed with Backchannel's intake batching (one
writer; backchannel.commit_batches: it lingers while requests keep arriving), with none of
SendFeedback's own work: no decoding, validation, ids, record, recipients, span or
idempotency. It answers the echo server's canned response.

What it measures is what durability costs on this machine, told apart from the rest of
SendFeedback (diagnostic row 1**). Run as its own process by run.py:
``python bench/floor_server.py --port N --database-url URL``; it prints ``PORT <n>`` once
listening and stops by itself after ``--max-seconds``.
"""

from __future__ import annotations

import asyncio
import os

import asyncpg
from common import canned_response, run_floor_server, serve_raw_send_feedback

from backchannel.commit_batches import CommitBatches

_Item = tuple[bytes, asyncio.Future[None]]


class GroupCommit:
    """The intake's batching (CommitBatches) writing only the request bytes."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection
        self._batches: CommitBatches[_Item] = CommitBatches()

    async def store(self, body: bytes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batches.put((body, done))
        await done

    async def run(self) -> None:
        while True:
            batch = await self._batches.next_batch()
            ids = [os.urandom(16).hex() for _ in batch]
            await self._connection.execute(
                "INSERT INTO accepted (id, body) SELECT * FROM unnest($1::text[], $2::bytea[])",
                ids,
                [body for body, _ in batch],
            )
            for _, done in batch:
                if not done.done():
                    done.set_result(None)


async def serve(port: int, database_url: str, max_seconds: float) -> None:
    connection = await asyncpg.connect(database_url)
    await connection.execute(
        "CREATE TABLE IF NOT EXISTS accepted (id text PRIMARY KEY, body bytea NOT NULL)"
    )
    writer = GroupCommit(connection)
    writing = asyncio.create_task(writer.run())
    answer = canned_response().SerializeToString()

    async def send_feedback(request: bytes, _context: object) -> bytes:
        await writer.store(request)
        return answer

    await serve_raw_send_feedback(port, send_feedback, max_seconds)
    writing.cancel()
    await connection.close()


if __name__ == "__main__":
    run_floor_server(__doc__, serve)
