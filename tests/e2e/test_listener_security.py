"""``backchannel serve`` refuses a listener other machines can reach unless it has TLS and
authentication, or BACKCHANNEL_INSECURE=true accepts the risk (with a warning at every
start). Run as real processes, as an operator would start them."""

from __future__ import annotations

import asyncio
import os

from support.server_process import BACKCHANNEL, ServerLauncher


async def test_serve_refuses_to_listen_on_every_address_without_tls(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env.update(
        BACKCHANNEL_DATABASE_URL=database_url,
        BACKCHANNEL_LISTEN="0.0.0.0:0",
        BACKCHANNEL_DELIVERY_PROCESSES="0",
    )
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, "serve", env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 3, stderr.decode()
    assert "refusing to start listening on 0.0.0.0:0 without TLS" in stderr.decode()
    assert "Backchannel listening" not in stdout.decode()


async def test_insecure_listens_anyway_and_warns(database_url: str) -> None:
    async with ServerLauncher(database_url) as launcher:
        server = await launcher.start(listen="0.0.0.0:0", insecure="true")

        assert server.running
        assert (
            "INSECURE: listening on 0.0.0.0:0 without TLS (BACKCHANNEL_TLS_CERT_FILE)"
            in server.log()
        )
        # Off loopback, authentication is on by default: it is not among what is missing.
        assert "without authentication" not in server.log()
