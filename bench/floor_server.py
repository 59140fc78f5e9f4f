"""The durable-accept floor: a bare grpc.aio server that stores each SendFeedback request's
bytes durably before answering, group-committed as Backchannel's intake does (one writer;
while requests keep arriving it lingers in 0.25 ms steps up to 2 ms), with none of
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

LINGER_SECONDS, LINGER_STEP_SECONDS, MAX_BATCH = 0.002, 0.00025, 256
_Item = tuple[bytes, asyncio.Future[None]]


class GroupCommit:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._last_batch = 0

    async def store(self, body: bytes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((body, done))
        await done

    async def run(self) -> None:
        while True:
            batch = await self._next_batch()
            ids = [os.urandom(16).hex() for _ in batch]
            await self._connection.execute(
                "INSERT INTO accepted (id, body) SELECT * FROM unnest($1::text[], $2::bytea[])",
                ids,
                [body for body, _ in batch],
            )
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _next_batch(self) -> list[_Item]:
        batch = [await self._queue.get()]
        self._take(batch)
        if len(batch) > 1 or self._last_batch > 1:
            deadline = asyncio.get_running_loop().time() + LINGER_SECONDS
            while len(batch) < MAX_BATCH and asyncio.get_running_loop().time() < deadline:
                before = len(batch)
                await asyncio.sleep(LINGER_STEP_SECONDS)
                self._take(batch)
                if len(batch) == before:
                    break
        self._last_batch = len(batch)
        return batch

    def _take(self, batch: list[_Item]) -> None:
        while len(batch) < MAX_BATCH and not self._queue.empty():
            batch.append(self._queue.get_nowait())


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
