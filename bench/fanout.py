"""Stream fan-out against accepts: ``python bench/fanout.py [--quick]``.

Does serving many StreamFeedbackEvents subscribers slow the accept path? One real
``backchannel serve`` (default settings, so its delivery child delivers to a webhook sink)
on a throwaway durable Postgres cluster; the client sends the brief's example feedback,
64 in flight, spread over ten sources, and measures accepts per second and each call's
latency:

- without subscribers;
- with ``--subscribers`` (default 1,000) connected streams from separate processes, half
  unfiltered and half filtered to one source (a tenth of the events), each resuming from
  its cursor when it is ended as too slow.

Aim (issue 13): with the subscribers, accepts keep >= 0.8x their rate without them and
p99 < 100 ms. The fan-out rate reached (messages the subscribers received per second) is
put next to a bare grpc.aio stream's in the same run: ``stream_ceiling_server.py`` writing
one pre-serialized message as fast as one client reads. ``--server-source DIR`` runs the
server from another checkout's ``server/`` folder (to compare with an older commit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc
from backchannel_client.v1 import feedback_service_pb2, feedback_service_pb2_grpc
from common import CpuMeter, percentile, send_request
from run import (
    BENCH,
    Env,
    Processes,
    create_recipient,
    python_argv,
    say,
    wait_for_succeeded,
)
from support.postgres_cluster import PostgresCluster

IN_FLIGHT = 64
SOURCES = [f"SOURCE_{i}" for i in range(10)]


@dataclass
class AcceptRun:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_micros: float


def requests(count: int) -> list[bytes]:
    template = send_request("x")
    out = []
    for i in range(count):
        template.request_id = f"fanout-{uuid.uuid4().hex}"
        template.feedback.lead.source_id = SOURCES[i % len(SOURCES)]
        out.append(template.SerializeToString())
    return out


async def accept_run(port: int, count: int, meter: CpuMeter) -> AcceptRun:
    """``count`` SendFeedback calls, ``IN_FLIGHT`` at a time; each call's latency."""
    payloads = iter(requests(count))
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/backchannel.v1.FeedbackService/SendFeedback")

        async def worker() -> None:
            nonlocal errors
            for payload in payloads:
                started = time.perf_counter()
                try:
                    await call(payload, timeout=30.0)
                    latencies.append(time.perf_counter() - started)
                except grpc.aio.AioRpcError:
                    errors += 1

        meter.start()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - started
        meter.stop()
    return AcceptRun(
        rate=count / elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=errors,
        server_micros=meter.micros_each("server", count),
    )


async def paced_run(port: int, rate: float, seconds: float) -> AcceptRun:
    """SendFeedback calls started at a steady ``rate`` per second (as a service calling
    in real time would, not as fast as possible) for ``seconds``; each call's latency."""
    count = round(rate * seconds)
    payloads = requests(count)
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/backchannel.v1.FeedbackService/SendFeedback")

        async def one(payload: bytes) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                await call(payload, timeout=30.0)
                latencies.append(time.perf_counter() - started)
            except grpc.aio.AioRpcError:
                errors += 1

        started = time.perf_counter()
        calls = []
        for index, payload in enumerate(payloads):
            await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
            calls.append(asyncio.create_task(one(payload)))
        await asyncio.gather(*calls)
        elapsed = time.perf_counter() - started
    return AcceptRun(
        rate=count / elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=errors,
        server_micros=0.0,
    )


def received(stats_files: list[Path]) -> dict[str, int]:
    totals = {"events": 0, "too_slow": 0}
    for path in stats_files:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        totals["events"] += data["events"]
        totals["too_slow"] += data["too_slow"]
    return totals


async def ceiling_rate(processes: Processes, seconds: float) -> float:
    """Messages per second one client reads from a bare grpc.aio stream."""
    server = await processes.start(
        "stream-ceiling", python_argv("stream_ceiling_server.py"), "PORT"
    )
    count = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = feedback_service_pb2_grpc.FeedbackServiceStub(channel)
        call = stub.StreamFeedbackEvents(feedback_service_pb2.StreamFeedbackEventsRequest())
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        async for _item in call:
            count += 1
            if time.perf_counter() > deadline:
                break
        elapsed = time.perf_counter() - started
        call.cancel()
    await processes.stop(server)
    return count / elapsed


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="backchannel-fanout-"))
    processes = Processes(workdir)
    cluster = PostgresCluster()
    try:
        cluster.init()
        cluster.start()
        cluster.wait_ready()
        postmaster_pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
        sink = await processes.start("sink", python_argv("sink.py"), "PORT")
        env = Env(cluster, processes, sink, None, postmaster_pid)  # type: ignore[arg-type]
        database_url = await env.fresh_database("fanout")
        if args.server_source:
            os.environ["PYTHONPATH"] = os.pathsep.join(
                [args.server_source, os.environ.get("PYTHONPATH", "")]
            )
        server = await start_server(env, database_url)
        await create_recipient(server.port, env.sink_url)
        say(f"fan-out bench: {args.count} accepts per run, {args.subscribers} subscribers")
        meter = env.meter(server=lambda: [server.pid])
        await accept_run(server.port, 300, meter)  # warm-up
        await wait_for_succeeded(database_url, 300, 120.0)

        alone = await accept_run(server.port, args.count, meter)
        say(f"without subscribers: {describe(alone)}; cpu: {meter.describe()}")
        paced_alone = await paced_run(server.port, args.paced_rate, args.paced_seconds)
        say(f"  paced, {args.paced_rate:g}/s: {describe(paced_alone)}")
        delivered = 300 + args.count + round(args.paced_rate * args.paced_seconds)
        await wait_for_succeeded(database_url, delivered, 300.0)

        stats_files = []
        per_process = max(1, args.subscribers // args.processes)
        for index in range(args.processes):
            stats = workdir / f"subscribers-{index}.json"
            stats_files.append(stats)
            await processes.start(
                f"subscribers-{index}",
                python_argv(
                    "fanout_subscribers.py",
                    "--port",
                    str(server.port),
                    "--streams",
                    str(per_process),
                    "--source",
                    SOURCES[3],
                    "--stats",
                    str(stats),
                ),
                "PORT",
            )
        say(f"{per_process * args.processes} subscribers connected")
        before = received(stats_files)
        meter = env.meter(server=lambda: [server.pid])
        watched = time.perf_counter()
        together = await accept_run(server.port, args.count, meter)
        await asyncio.sleep(1.0)  # what was still on its way to the subscribers
        after = received(stats_files)
        fanned = (after["events"] - before["events"]) / (time.perf_counter() - watched)
        say(f"with subscribers:    {describe(together)}; cpu: {meter.describe()}")
        paced_together = await paced_run(server.port, args.paced_rate, args.paced_seconds)
        say(f"  paced, {args.paced_rate:g}/s: {describe(paced_together)}")
        say(
            f"fan-out: {fanned:,.0f} messages/s received; "
            f"{after['too_slow'] - before['too_slow']} streams ended as too slow (and resumed)"
        )
        for child in [c for c in processes.children if c.name.startswith("subscribers")]:
            await processes.stop(child)
        ceiling = await ceiling_rate(processes, 5.0)
        say(f"bare grpc.aio stream to one client: {ceiling:,.0f} messages/s")
        say("")
        say(
            f"accepts with/without subscribers: {together.rate / alone.rate:.2f}x "
            f"(aim >= 0.8x); p99 of {args.paced_rate:g} accepts/s with subscribers "
            f"{paced_together.p99_ms:.0f} ms (aim < 100 ms; without: "
            f"{paced_alone.p99_ms:.0f} ms); fan-out {fanned / ceiling:.2f}x of a bare "
            "stream's rate"
        )
    finally:
        await processes.stop_all()
        cluster.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


async def start_server(env: Env, database_url: str):  # type: ignore[no-untyped-def]
    """``backchannel serve`` with its defaults (a delivery child on two or more CPUs)."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    from support.postgres_cluster import free_port

    variables.update(
        BACKCHANNEL_DATABASE_URL=database_url,
        BACKCHANNEL_LISTEN=f"127.0.0.1:{free_port()}",
        BACKCHANNEL_OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8",
        BACKCHANNEL_LOG_LEVEL="WARNING",
        # Every subscriber process is on 127.0.0.1, one caller to the stream caps: let
        # them all in (a stream resuming after "too slow" may briefly hold two places).
        BACKCHANNEL_MAX_STREAMS="4000",
        BACKCHANNEL_MAX_STREAMS_PER_CALLER="4000",
    )
    return await env.processes.start(
        "backchannel-serve", [sys.executable, "-m", "backchannel.cli", "serve"],
        "Backchannel listening on", variables,
    )  # fmt: skip


def describe(result: AcceptRun) -> str:
    return (
        f"{result.rate:,.0f} accepts/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
        f"{result.errors} errors, server {result.server_micros:.0f} us/call"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 subscribers, 1,000 accepts")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4, help="subscriber processes")
    parser.add_argument("--count", type=int, default=3000, help="accepts per measured run")
    parser.add_argument("--paced-rate", type=float, default=100.0, help="accepts/s, paced")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--server-source", help="a checkout's server/ folder to run instead")
    args = parser.parse_args()
    if args.server_source:
        args.server_source = os.path.abspath(args.server_source)
    if args.quick:
        args.subscribers, args.count, args.paced_seconds = 100, 1000, 3.0
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    asyncio.run(asyncio.wait_for(run(args), 900.0))


if __name__ == "__main__":
    del BENCH
    main()
