"""A loopback TCP proxy in front of Postgres that can lose the answer to a COMMIT.

Armed, it watches what clients send: on a connection that has sent ``trigger`` (some
text of the transaction to pick out), the next COMMIT is passed on to Postgres and then
the client's connection is cut. Postgres commits; the client only sees its connection
die, as when a network path or a pooler fails at the worst moment. The connection to
Postgres is held open a moment longer so the commit surely completes.

With ``commit_marker=None`` the cut comes right after the data holding ``trigger`` is
passed on: a statement that commits by itself (no COMMIT of its own) runs and commits
with its answer lost. ``arm(outage_seconds=...)`` also cuts every other client
connection at that moment and refuses new ones for that long, as when the path to the
database fails for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

#: Bytes kept from the previous read, so a marker split across two reads is still seen.
_OVERLAP = 128
#: How long the Postgres side of a cut connection stays open, seconds.
_LINGER = 1.0


class CommitCuttingProxy:
    def __init__(
        self, target_port: int, trigger: bytes, commit_marker: bytes | None = b"COMMIT"
    ) -> None:
        self.target_port = target_port
        self.trigger = trigger
        self.commit_marker = commit_marker
        self.outage_seconds = 0.0
        #: Event-loop time until which new client connections are refused.
        self.refusing_until = 0.0
        self._clients: set[asyncio.StreamWriter] = set()
        self.port = 0
        #: COMMITs still to cut.
        self.armed = 0
        #: COMMITs cut so far.
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def arm(self, commits: int = 1, outage_seconds: float = 0.0) -> None:
        self.armed += commits
        self.outage_seconds = outage_seconds

    def url(self, database_url: str) -> str:
        """``database_url`` (on the target port) with this proxy in between."""
        return database_url.replace(f":{self.target_port}/", f":{self.port}/", 1)

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Closing the proxy cancels its connections. The task ends normally then: on
        # Python 3.11 asyncio's stream callback asks a cancelled task for its exception,
        # which raises and is logged as an error.
        with contextlib.suppress(asyncio.CancelledError):
            await self._serve_connection(reader, writer)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        if asyncio.get_running_loop().time() < self.refusing_until:
            writer.transport.abort()
            return
        self._tasks.add(task)
        self._clients.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            writer.transport.abort()
            self._tasks.discard(task)
            self._clients.discard(writer)
            return
        answers = asyncio.create_task(_pipe(upstream_reader, writer))
        try:
            with contextlib.suppress(OSError):  # either side may close at any moment
                await self._forward_requests(reader, upstream_writer, writer)
        finally:
            answers.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await answers
            writer.transport.abort()
            upstream_writer.transport.abort()
            self._tasks.discard(task)
            self._clients.discard(writer)

    async def _forward_requests(
        self,
        reader: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
    ) -> None:
        tail = b""
        triggered = False
        while data := await reader.read(65536):
            upstream.write(data)
            await upstream.drain()
            seen = tail + data
            if not triggered and self.armed > 0 and (at := seen.find(self.trigger)) >= 0:
                triggered = True
                seen = seen[at + len(self.trigger) :]
            marker = self.commit_marker
            if triggered and self.armed > 0 and (marker is None or marker in seen):
                self.armed -= 1
                self.cuts += 1
                client.transport.abort()
                if self.outage_seconds:
                    loop = asyncio.get_running_loop()
                    self.refusing_until = loop.time() + self.outage_seconds
                    for other in list(self._clients):
                        other.transport.abort()
                await asyncio.sleep(_LINGER)
                return
            tail = seen[-_OVERLAP:]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Passes Postgres's answers on; when Postgres closes, so does the client's side (a
    client closing gracefully waits for that)."""
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()
