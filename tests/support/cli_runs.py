"""Running the ``backchannel`` command as an operator would: a subprocess with a clean
``BACKCHANNEL_*`` environment (pointed at a running server), bounded in time."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from support.in_process_server import RunningServer

BACKCHANNEL = str(Path(sys.executable).with_name("backchannel"))
#: Longest a command may take; a run that takes longer fails the test.
COMMAND_TIMEOUT = 60.0


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)

    def json_lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def environment(
    running: RunningServer | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This process's environment without its BACKCHANNEL_* variables, with
    BACKCHANNEL_SERVER set to ``running`` and ``extra`` added."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    if running is not None:
        env["BACKCHANNEL_SERVER"] = running.address
    env.update(extra or {})
    return env


async def cli(
    *args: str,
    running: RunningServer | None,
    stdin: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> Run:
    """``backchannel ARGS`` against ``running``, with ``env`` added to its environment and
    ``stdin`` (text, or bytes as they are) on its standard input."""
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL,
        *args,
        env=environment(running, env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if isinstance(stdin, str) else stdin),
            COMMAND_TIMEOUT,
        )
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())
