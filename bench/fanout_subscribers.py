"""Stream subscribers for bench/fanout.py: one process holding many StreamFeedbackEvents
calls to one server, counting what each receives.

``python bench/fanout_subscribers.py --port N --streams K --filtered-share 0.5
--source SOURCE_3 --stats FILE``: opens K streams from now (a share of them filtered to
one source), prints ``PORT 0`` once every stream has its first heartbeat or event, and
writes its counts to FILE (JSON) every half second until stopped. A stream ended as too
slow (RESOURCE_EXHAUSTED) resumes after its last cursor, as the shipped clients do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from pathlib import Path

import grpc
from backchannel_client.v1 import feedback_service_pb2, feedback_service_pb2_grpc


class Counts:
    def __init__(self) -> None:
        self.events = 0
        self.heartbeats = 0
        self.too_slow = 0
        self.other_errors: dict[str, int] = {}


async def follow(
    stub: feedback_service_pb2_grpc.FeedbackServiceStub,
    source: str | None,
    counts: Counts,
    started: asyncio.Event,
) -> None:
    cursor = ""
    first = True
    while True:
        request = feedback_service_pb2.StreamFeedbackEventsRequest(
            filter=feedback_service_pb2.EventFilter(source_id=source or "")
        )
        if cursor:
            request.after_cursor = cursor
        call = stub.StreamFeedbackEvents(request)
        try:
            async for item in call:
                if first:
                    first = False
                    started.set()
                if item.HasField("event"):
                    counts.events += 1
                    cursor = item.event.cursor
                elif item.HasField("heartbeat"):
                    counts.heartbeats += 1
                    cursor = item.heartbeat.cursor
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                counts.too_slow += 1
            else:
                name = error.code().name
                counts.other_errors[name] = counts.other_errors.get(name, 0) + 1
                await asyncio.sleep(0.5)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--filtered-share", type=float, default=0.5)
    parser.add_argument("--source", default="SOURCE_3")
    parser.add_argument("--stats", required=True)
    parser.add_argument("--channels", type=int, default=8)
    args = parser.parse_args()
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{args.port}") for _ in range(args.channels)]
    counts = Counts()
    filtered = round(args.streams * args.filtered_share)
    starts = [asyncio.Event() for _ in range(args.streams)]
    tasks = [
        asyncio.create_task(
            follow(
                feedback_service_pb2_grpc.FeedbackServiceStub(channels[i % len(channels)]),
                args.source if i < filtered else None,
                counts,
                starts[i],
            )
        )
        for i in range(args.streams)
    ]
    await asyncio.wait_for(asyncio.gather(*(s.wait() for s in starts)), 120.0)
    print("PORT 0", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    stats = Path(args.stats)
    while not stop.is_set():
        stats.write_text(  # noqa: ASYNC240 -- a few hundred bytes to a local file
            json.dumps(
                {
                    "events": counts.events,
                    "heartbeats": counts.heartbeats,
                    "too_slow": counts.too_slow,
                    "other_errors": counts.other_errors,
                }
            )
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    for task in tasks:
        task.cancel()
    for channel in channels:
        await channel.close()


if __name__ == "__main__":
    asyncio.run(main())
