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

import argparse
import asyncio
import os

import asyncpg
import grpc
from common import canned_response, until_stopped

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

    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "backchannel.v1.FeedbackService",
                {"SendFeedback": grpc.unary_unary_rpc_method_handler(send_feedback)},
            ),
        )
    )
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"PORT {bound}", flush=True)
    await until_stopped(max_seconds)
    await server.stop(1.0)
    writing.cancel()
    await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.database_url, args.max_seconds))


if __name__ == "__main__":
    main()
