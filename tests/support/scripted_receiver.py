"""A webhook receiver whose answers are coroutines: it can fail by status, stall, trickle
a body or cut the connection, and it records when each request came and how many it
held at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from support.receiver import Received, WebhookReceiver


@dataclass
class Arrival(Received):
    #: Wall-clock time it arrived, to compare with times the server recorded.
    wall: datetime

    def __repr__(self) -> str:
        return f"Arrival({self.headers.get('webhook-id')!r}, at={self.at:.3f})"

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def document(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


Answer = Callable[[Arrival, web.Request], Awaitable[web.StreamResponse]]


@dataclass(repr=False)
class ScriptedReceiver(WebhookReceiver):
    #: Decides the answer for each request; by default the plain receiver's ``respond``.
    answer: Answer | None = None
    arrivals: list[Arrival] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop(self) -> None:
        self._closing.set()  # stalled answers give up, so shutdown does not wait for them
        await super().stop()

    async def stall(self, seconds: float) -> None:
        """Waits ``seconds``, or less if the receiver is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def __repr__(self) -> str:
        return f"ScriptedReceiver({self.url}, {len(self.arrivals)} arrivals)"

    def count(self, webhook_id: str) -> int:
        return sum(1 for a in self.arrivals if a.webhook_id == webhook_id)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        loop = asyncio.get_running_loop()
        arrival = Arrival(
            request.path,
            {k.lower(): v for k, v in request.headers.items()},
            b"",
            loop.time(),
            datetime.now(UTC),
        )
        try:
            arrival.body = await request.read()
            self.arrivals.append(arrival)
            self.requests.append(arrival)
            async with self._arrived:
                self._arrived.notify_all()
            if self.answer is None:
                return self.respond(arrival)
            return await self.answer(arrival, request)
        finally:
            self.in_flight -= 1


def status(code: int, headers: Mapping[str, str] | None = None) -> Answer:
    async def answer(_arrival: Arrival, _request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, text=f"status {code}", headers=headers)

    return answer


def first_then(first: Answer, then: Answer, times: int = 1) -> Answer:
    """``first`` for the first ``times`` requests, ``then`` for every later one."""
    seen = 0

    async def answer(arrival: Arrival, request: web.Request) -> web.StreamResponse:
        nonlocal seen
        seen += 1
        return await (first if seen <= times else then)(arrival, request)

    return answer


def stall_then(receiver: ScriptedReceiver, seconds: float, code: int = 204) -> Answer:
    """Answers ``code`` only after ``seconds`` (longer than the sender waits, as a rule)."""

    async def answer(_arrival: Arrival, _request: web.Request) -> web.StreamResponse:
        await receiver.stall(seconds)
        return web.Response(status=code)

    return answer


def reset_connection(receiver: ScriptedReceiver) -> Answer:
    """Drops the connection with a TCP reset, without sending a byte of an answer."""

    async def answer(_arrival: Arrival, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        transport.abort()
        await receiver.stall(5.0)
        return web.Response(status=204)

    return answer


def trickle_body(receiver: ScriptedReceiver, code: int, chunks: int, pause: float) -> Answer:
    """Sends the status line and headers at once, then the body a chunk per ``pause``."""

    async def answer(_arrival: Arrival, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            status=code, headers={"Content-Length": str(chunks), "Content-Type": "text/plain"}
        )
        await response.prepare(request)
        for _ in range(chunks):
            await receiver.stall(pause)
            with contextlib.suppress(ConnectionError):
                await response.write(b".")
        return response

    return answer
