"""A webhook recipient for fault tests and the reliability benchmark: a real aiohttp
server that answers after a delay it is told, and records every request's ``webhook-id``
and body the moment it arrives (before answering, so an attempt cut off by a crash is
recorded too)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiohttp import web


@dataclass(frozen=True)
class Arrival:
    path: str
    webhook_id: str
    body: bytes
    #: time.monotonic() on arrival.
    at: float


@dataclass
class Behaviour:
    #: Seconds before answering.
    delay: float = 0.0
    status: int = 204


class RecordingSink:
    def __init__(self, delay: float = 0.0, status: int = 204) -> None:
        #: How requests to a path are answered; paths not listed get ``default``.
        self.default = Behaviour(delay, status)
        self.by_path: dict[str, Behaviour] = {}
        self.arrivals: list[Arrival] = []
        self.counts: Counter[str] = Counter()
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self) -> set[str]:
        """Every webhook-id that arrived at least once."""
        return set(self.counts)

    def duplicates(self) -> dict[str, int]:
        """webhook-id -> times it arrived, for those that arrived more than once."""
        return {i: n for i, n in self.counts.items() if n > 1}

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Lingering requests (a "timing out" recipient) must not hold up shutdown.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        webhook_id = request.headers.get("webhook-id", "")
        self.arrivals.append(Arrival(request.path, webhook_id, body, time.monotonic()))
        self.counts[webhook_id] += 1
        behaviour = self.by_path.get(request.path, self.default)
        if behaviour.delay > 0:
            await asyncio.sleep(behaviour.delay)
        return web.Response(status=behaviour.status)
