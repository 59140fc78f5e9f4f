"""The delivery processes ``backchannel serve`` starts when BACKCHANNEL_DELIVERY_PROCESSES
is above 0: each runs ``backchannel deliver`` on the same database (a replica that only
delivers), is started again if it dies, and stops when serve stops. Each watches its
stdin, a pipe from serve: if serve itself is killed, the pipe closes and they stop too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping

log = logging.getLogger(__name__)

#: Restart delays of a delivery process that keeps dying: doubling up to this.
_MAX_RESTART_DELAY = 30.0
#: A process that ran this long before dying is restarted after the shortest delay.
_STABLE_SECONDS = 60.0


class DeliveryProcesses:
    def __init__(
        self,
        count: int,
        database_url: str,
        config_file: str | None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self._count = count
        self._argv = [sys.executable, "-m", "backchannel.cli", "deliver", "--stop-with-stdin"]
        if config_file:
            self._argv += ["--config", config_file]
        self._env = {**os.environ, **(environment or {}), "BACKCHANNEL_DATABASE_URL": database_url}
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        for index in range(self._count):
            await self._spawn(index)
            self._tasks.append(
                asyncio.create_task(self._keep_running(index), name=f"delivery-process-{index}")
            )

    async def _spawn(self, index: int) -> None:
        process = await asyncio.create_subprocess_exec(
            *self._argv, stdin=asyncio.subprocess.PIPE, env=self._env
        )
        self._processes[index] = process
        log.info("delivery process %d started (pid %d)", index + 1, process.pid)

    async def _keep_running(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        delay = 1.0
        while True:
            started = loop.time()
            code = await self._processes[index].wait()
            if self._stopping:
                return
            delay = 1.0 if loop.time() - started > _STABLE_SECONDS else delay
            log.error(
                "delivery process %d (pid %d) exited with %s; starting it again in %.0f s",
                index + 1, self._processes[index].pid, code, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RESTART_DELAY)
            if self._stopping:
                return
            await self._spawn(index)

    async def stop(self, grace: float) -> None:
        """Asks every process to stop (its attempts in flight get ``grace`` seconds), and
        kills those still running a little after that."""
        self._stopping = True
        running = [p for p in self._processes.values() if p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if running:
            _, late = await asyncio.wait(
                [asyncio.ensure_future(p.wait()) for p in running], timeout=grace + 5.0
            )
            for process in running:
                if process.returncode is None:
                    log.warning("delivery process pid %d did not stop; killing it", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
            for waiter in late:
                waiter.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
