"""``backchannel serve`` as a real process: started with ``BACKCHANNEL_*`` settings, ready
once it prints its listening line, crashed with SIGKILL or shut down with SIGTERM, always
by its own pid. A launcher kills whatever it started and is still running when it closes.
Killing a process leaves its channel open, so calls in flight fail as a client would see
them (UNAVAILABLE), not as cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Self

import grpc
from backchannel_client.v1 import feedback_service_pb2_grpc, recipient_service_pb2_grpc

from support.secret_keys import TEST_SECRET_KEYS

BACKCHANNEL = str(Path(sys.executable).with_name("backchannel"))
_LISTENING = re.compile(r"Backchannel listening on \S+:(\d+)")
#: Lines of a server's output kept for the message of a failed test.
_KEPT_LINES = 400

#: Settings every fault test starts from: a free loopback port, webhooks to loopback
#: allowed, the test secret keys, quick polling, logs at INFO (they say what was released
#: and handed back), and the serving process delivering itself, so killing it kills the
#: delivering process too (serve's delivery child processes have tests of their own:
#: test_delivery_processes).
BASE_SETTINGS = {
    "listen": "127.0.0.1:0",
    "delivery_processes": "0",
    "outbound_allow_networks": "127.0.0.0/8",
    "secret_keys": TEST_SECRET_KEYS,
    "poll_interval_seconds": "0.2",
    "log_level": "INFO",
}


class ServerProcess:
    """One running ``backchannel serve`` and a gRPC channel to it."""

    def __init__(self, process: asyncio.subprocess.Process, keep_all_output: bool = False) -> None:
        self.process = process
        self.port = 0
        self.output: deque[str] = deque(maxlen=None if keep_all_output else _KEPT_LINES)
        self._listening = asyncio.Event()
        self._reader = asyncio.create_task(self._read_output(), name=f"output-of-{process.pid}")
        self.channel: grpc.aio.Channel | None = None
        self.feedback: feedback_service_pb2_grpc.FeedbackServiceStub
        self.recipients: recipient_service_pb2_grpc.RecipientServiceStub

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def worker_id(self) -> str:
        """The ``worker_id`` this process writes on the events of its attempts."""
        return f"{socket.gethostname()}:{self.pid}"

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def log(self) -> str:
        return "".join(self.output)

    async def _read_output(self) -> None:
        assert self.process.stdout is not None
        while line := (await self.process.stdout.readline()).decode(errors="replace"):
            self.output.append(line)
            if not self._listening.is_set() and (match := _LISTENING.search(line)):
                self.port = int(match[1])
                self._listening.set()

    async def wait_listening(self, timeout: float) -> None:
        ended = asyncio.ensure_future(self.process.wait())
        listening = asyncio.ensure_future(self._listening.wait())
        try:
            await asyncio.wait({ended, listening}, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            for waiter in (ended, listening):
                waiter.cancel()
        if not self._listening.is_set():
            await self.kill()
            raise RuntimeError(f"backchannel serve did not start:\n{self.log()}")
        self.channel = grpc.aio.insecure_channel(self.address)
        self.feedback = feedback_service_pb2_grpc.FeedbackServiceStub(self.channel)
        self.recipients = recipient_service_pb2_grpc.RecipientServiceStub(self.channel)

    async def kill(self) -> None:
        """SIGKILL: the process dies at once, whatever it was doing."""
        if self.running:
            os.kill(self.pid, signal.SIGKILL)
        await self.process.wait()

    async def terminate(self, timeout: float) -> int | None:
        """SIGTERM, then waits up to ``timeout`` seconds for the exit; None if it did not
        exit by then (it is killed, so nothing outlives the test)."""
        if self.running:
            os.kill(self.pid, signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
            return None
        return code

    async def close(self) -> None:
        """Kills the process if it still runs, and closes the channel (calls still
        waiting on it are cancelled)."""
        with contextlib.suppress(ProcessLookupError):
            await self.kill()
        await asyncio.wait({self._reader}, timeout=5)
        if self.channel is not None:
            await self.channel.close()


class ServerLauncher:
    """Starts servers on one database; ``async with`` kills those still running at exit."""

    def __init__(
        self, database_url: str, *, keep_all_output: bool = False, **settings: object
    ) -> None:
        self.database_url = database_url
        self.settings = {**BASE_SETTINGS, **{k: str(v) for k, v in settings.items()}}
        self.started: list[ServerProcess] = []
        #: Keep every line each server writes, not only the last few hundred.
        self.keep_all_output = keep_all_output

    async def start(self, timeout: float = 60.0, **settings: object) -> ServerProcess:
        """A new server process with the launcher's settings and ``settings`` over them
        (lower-case names without the prefix, e.g. ``lease_seconds=3``)."""
        merged = {**self.settings, **{k: str(v) for k, v in settings.items()}}
        env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
        env["BACKCHANNEL_DATABASE_URL"] = self.database_url
        env.update({f"BACKCHANNEL_{name.upper()}": value for name, value in merged.items()})
        process = await asyncio.create_subprocess_exec(
            BACKCHANNEL, "serve", env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        server = ServerProcess(process, self.keep_all_output)
        self.started.append(server)
        await server.wait_listening(timeout)
        return server

    async def close(self) -> None:
        for server in self.started:
            await server.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
