"""Opens many StreamFeedbackEvents calls at once against a real `backchannel serve`, as the
probe of issue 13 did (10,000 in a few seconds), and says how each ended before its first
message: a first message (a heartbeat), or which status. Bounded: each stream waits at most
--wait seconds for its first message, then everything is stopped.

    python bench/stream_flood.py --streams 10000 --channels 8
    python bench/stream_flood.py --server-source /path/to/checkout/server   # another tree

The stream caps are raised for the run (--max-streams; --defaults keeps the server's), so
what is measured is what the server does with that many streams, not the caps.

Measured here (2 cores, 10,000 streams over 8 connections, caps raised, one call per
connection allowed past 500): 4,536 ended CANCELLED 5-6 s in, before any message, on the
code before the caps (4,522 after them). grpc core sheds calls it received but the
application has not yet taken: the Python server takes them one at a time on its event
loop, and past 1,000 waiting (grpc.server.max_pending_requests; all past 3,000, the hard
limit) core cancels new ones at random. With those raised to 30,000/40,000 all 10,000
got their first message. Backchannel keeps core's limits (shedding a burst it cannot take
protects the process) and refuses streams past its caps with RESOURCE_EXHAUSTED before
they cost more: with its defaults the same burst got 100 streams, 7,653
RESOURCE_EXHAUSTED (TOO_MANY_STREAMS) and 2,247 still shed by core as CANCELLED.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path

import grpc
from backchannel_client.v1 import feedback_service_pb2, feedback_service_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.postgres_cluster import PostgresCluster
from support.scratch_database import scratch_database
from support.server_process import ServerLauncher


async def first_message(
    stub: feedback_service_pb2_grpc.FeedbackServiceStub, wait: float
) -> tuple[str, float]:
    started = time.perf_counter()
    call = stub.StreamFeedbackEvents(feedback_service_pb2.StreamFeedbackEventsRequest())
    try:
        await asyncio.wait_for(call.read(), wait)
        outcome = "first message"
    except grpc.aio.AioRpcError as error:
        outcome = f"{error.code().name}: {error.details()}"
    except TimeoutError:
        outcome = f"no message within {wait:g} s"
    return outcome, time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    cluster = PostgresCluster()
    cluster.init()
    cluster.start()
    try:
        async with (
            scratch_database(cluster, "flood") as database_url,
            ServerLauncher(
                database_url,
                delivery_processes=0,
                log_level="WARNING",
                max_streams=args.max_streams,
                max_streams_per_caller=args.max_streams,
                max_calls_per_connection=args.max_calls_per_connection,
            ) as servers,
        ):
            # The server's own caps (a tree from before them knows no such settings).
            if args.server_source or args.defaults:
                for name in ("max_streams", "max_streams_per_caller", "max_calls_per_connection"):
                    del servers.settings[name]
            server = await servers.start()
            channels = [
                grpc.aio.insecure_channel(
                    f"127.0.0.1:{server.port}", options=[("grpc.use_local_subchannel_pool", 1)]
                )
                for _ in range(args.channels)
            ]
            stubs = [feedback_service_pb2_grpc.FeedbackServiceStub(c) for c in channels]
            started = time.perf_counter()
            results = await asyncio.gather(
                *(first_message(stubs[i % len(stubs)], args.wait) for i in range(args.streams))
            )
            elapsed = time.perf_counter() - started
            outcomes = Counter(outcome for outcome, _ in results)
            print(f"{args.streams} streams over {args.channels} channels, {elapsed:.1f} s:")
            for outcome, count in outcomes.most_common():
                times = sorted(t for o, t in results if o == outcome)
                print(f"  {count:6d}  {outcome}  (after {times[0]:.1f}-{times[-1]:.1f} s)")
            log = server.log().splitlines()
            print(f"server log: {len(log)} lines; last ones:")
            for line in log[-8:]:
                print(f"  {line[:200]}")
            for channel in channels:
                await channel.close()
    finally:
        cluster.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--wait", type=float, default=30.0, help="seconds for a first message")
    parser.add_argument("--max-streams", type=int, default=20000)
    parser.add_argument(
        "--max-calls-per-connection",
        type=int,
        default=500,
        help="the server's BACKCHANNEL_MAX_CALLS_PER_CONNECTION",
    )
    parser.add_argument("--defaults", action="store_true", help="the server's own caps")
    parser.add_argument("--server-source", help="a checkout's server/ folder to run instead")
    args = parser.parse_args()
    if args.server_source:
        os.environ["PYTHONPATH"] = os.path.abspath(args.server_source)
    asyncio.run(asyncio.wait_for(run(args), 300.0))


if __name__ == "__main__":
    main()
