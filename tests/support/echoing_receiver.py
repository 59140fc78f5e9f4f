"""An HTTP endpoint as careless as a remote gets: every answer repeats the request's whole
URL and every header it came with (an ``Authorization`` header, an API key...). It refuses
each delivery's first attempts (503, retryable) and takes the last (200), so a scenario
sees failures, retries and a success, all echoing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class EchoingReceiver:
    #: Attempts of one delivery (by ``webhook-id``) refused before one is taken.
    refused_attempts: int = 2
    port: int = 0
    answers: list[str] = field(default_factory=list)
    _attempts: Counter[str] = field(default_factory=Counter)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        delivery = request.headers.get("webhook-id", request.path)
        self._attempts[delivery] += 1
        headers = "; ".join(f"{name}: {value}" for name, value in request.headers.items())
        answer = f"{request.method} {request.url} with {headers}"
        self.answers.append(answer)
        status = 503 if self._attempts[delivery] <= self.refused_attempts else 200
        return web.Response(status=status, text=answer)
