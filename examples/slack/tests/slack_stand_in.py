"""A local stand-in for a Slack incoming webhook (``/services/T.../B.../secret``), answering
as Slack does: 200 ``ok``; 400 ``invalid_payload`` when there is no text; 403
``invalid_token`` for a wrong secret; 404 ``no_service`` for an unknown webhook; 429 with
Retry-After when told to throttle."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

WEBHOOK_PATH = "/services/T0000CONF/B0000CONF"
SECRET_SEGMENT = "xoxConformance7Qe2Lw9Zr4Tn1Yb"


@dataclass
class SlackStandIn:
    host: str = "127.0.0.1"
    port: int = 0
    #: Every JSON message accepted (answered 200).
    accepted: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    #: Answer this many of the next requests with 429.
    throttle: int = 0
    retry_after: str = "3"
    _runner: web.AppRunner | None = None

    def url(self, secret: str = SECRET_SEGMENT, path: str = WEBHOOK_PATH) -> str:
        return f"http://{self.host}:{self.port}{path}/{secret}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/services/{team}/{bot}/{secret}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.throttle > 0:
            self.throttle -= 1
            return web.Response(
                status=429, text="rate_limited", headers={"Retry-After": self.retry_after}
            )
        path = f"/services/{request.match_info['team']}/{request.match_info['bot']}"
        if path != WEBHOOK_PATH:
            return web.Response(status=404, text="no_service")
        if request.match_info["secret"] != SECRET_SEGMENT:
            return web.Response(status=403, text="invalid_token")
        try:
            message = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return web.Response(status=400, text="no_text")
        blocks = message.get("blocks", [])
        if not isinstance(blocks, list) or not all(
            isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks
        ):
            return web.Response(status=400, text="invalid_blocks")
        self.accepted.append(message)
        return web.Response(text="ok")
