"""The webhook sink: an aiohttp server, its own process, that answers every POST with 204
and remembers, per ``webhook-id``, the wall-clock time (``time.time()``) it arrived.

Control routes for run.py: ``GET /_stats`` (count, first and last arrival), ``GET /_times``
(webhook-id -> arrival time), ``POST /_reset``. It prints ``PORT <n>`` once listening and
stops by itself after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web
from common import until_stopped


class Sink:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.bytes = 0
        self.times: dict[str, float] = {}

    async def receive(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        now = time.time()
        self.count += 1
        self.bytes += len(body)
        if not self.first:
            self.first = now
        self.last = now
        webhook_id = request.headers.get("webhook-id")
        if webhook_id is not None:
            self.times.setdefault(webhook_id, now)
        return web.Response(status=204)

    async def stats(self, _request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"count": self.count, "first": self.first, "last": self.last, "bytes": self.bytes}
        )

    async def arrival_times(self, _request: web.Request) -> web.StreamResponse:
        return web.json_response(self.times)

    async def reset(self, _request: web.Request) -> web.StreamResponse:
        self.clear()
        return web.Response(status=204)


async def serve(port: int, max_seconds: float) -> None:
    sink = Sink()
    app = web.Application()
    app.router.add_get("/_stats", sink.stats)
    app.router.add_get("/_times", sink.arrival_times)
    app.router.add_post("/_reset", sink.reset)
    app.router.add_post("/{tail:.*}", sink.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    server = site._server
    assert server is not None
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)  # type: ignore[union-attr]
    await until_stopped(max_seconds)
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.max_seconds))


if __name__ == "__main__":
    main()
