"""Stopping `backchannel serve` (SIGTERM, or Ctrl-C) with open event streams: the streams
are told to go away (UNAVAILABLE, with the cursor to resume after) and the process exits
promptly, rather than after the whole grace period that waits for calls that can finish."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
from backchannel_client.v1 import feedback_service_pb2
from support.rpc_errors import rich_error
from support.server_process import ServerLauncher

#: Long, so that waiting it out shows.
GRACE_SECONDS = 20.0


async def test_sigterm_ends_open_streams_at_once_and_exits_well_within_the_grace_period(
    database_url: str,
) -> None:
    async with ServerLauncher(database_url, shutdown_grace_seconds=GRACE_SECONDS) as servers:
        server = await servers.start()
        streams = [
            server.feedback.StreamFeedbackEvents(
                feedback_service_pb2.StreamFeedbackEventsRequest(from_beginning=True)
            )
            for _ in range(3)
        ]
        for stream in streams:
            await asyncio.wait_for(stream.read(), 30.0)  # each is open: its first heartbeat
        endings = [asyncio.create_task(ending(stream)) for stream in streams]

        started = time.monotonic()
        code = await server.terminate(timeout=GRACE_SECONDS + 10)
        took = time.monotonic() - started

        assert code == 0
        assert took < GRACE_SECONDS / 2, f"exited after {took:.1f} s"
        for error in await asyncio.gather(*endings):
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert rich_error(error).error_info.reason == "SERVER_STOPPING"


async def ending(stream: Any) -> grpc.aio.AioRpcError:
    """How the stream ends."""
    try:
        while await stream.read() is not grpc.aio.EOF:
            pass
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the stream ended without an error")
