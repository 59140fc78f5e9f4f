"""``backchannel`` run as a subprocess, as an operator runs it: its exit code and output."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

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


async def run_cli(*args: str, env: dict[str, str] | None = None) -> Run:
    """Runs ``backchannel ARGS`` with no BACKCHANNEL_* variable but those of ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    environment.update(env or {})
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, *args, env=environment, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())
