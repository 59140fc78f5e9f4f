"""What `backchannel serve` prints when it cannot start, and what it does not print:
one clear line and its exit code, never a traceback or a library's warning."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from support.server_process import ServerLauncher

BACKCHANNEL = str(Path(sys.executable).with_name("backchannel"))


async def run_serve(**settings: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env.update({f"BACKCHANNEL_{k.upper()}": v for k, v in settings.items()})
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, "serve", env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60.0)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_a_port_already_in_use_is_one_line_and_exit_3(database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = await run_serve(
            database_url=database_url, listen=f"127.0.0.1:{port}", log_level="WARNING"
        )
    assert code == 3
    assert f"cannot listen on 127.0.0.1:{port}" in output
    assert "Traceback" not in output


async def test_a_database_that_cannot_be_reached_is_one_line_without_its_password() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        code, output = await run_serve(
            database_url=f"postgresql://someone:s3cret-pw@127.0.0.1:{port}/db",
            listen="127.0.0.1:0",
            log_level="WARNING",
        )
    assert code == 6
    assert "cannot reach the database at postgresql://someone:***@127.0.0.1" in output
    assert "s3cret-pw" not in output and "Traceback" not in output


async def test_serve_with_a_delivery_child_prints_no_grpc_fork_warning(database_url: str) -> None:
    async with ServerLauncher(database_url, delivery_processes="1") as servers:
        server = await servers.start()
        assert await server.terminate(timeout=30.0) == 0
    assert "fork" not in server.log().lower(), server.log()
