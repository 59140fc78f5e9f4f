"""Reliability figures for Backchannel, printed and never asserted:

(a) delivery throughput to healthy recipients when 10% of the recipients are broken (one
    answers 500, one never answers, so its sends time out), as a ratio of the all-healthy
    run measured in the same run;
(b) recovery after kill -9 of a server with a backlog: from the restart to the first
    delivery, to the backlog drained, to everything drained;
(c) recovery after a Postgres restart (fast stop, a few seconds down, start), the server
    left running: from Postgres back to the first successful SendFeedback and to the
    first delivery.

Run from the repository root with the project's virtualenv active:

    python bench/reliability.py            # full: 3 runs of (a), 3 restarts in (c)
    python bench/reliability.py --quick    # smaller counts, one run of each

Everything runs on loopback: a Postgres cluster of its own (tests/support, fsync on), real
``backchannel serve`` processes, and the webhook recipients (an aiohttp server) in this
process. Every process it starts is stopped by pid; every wait has a bound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.brief_example import brief_example_feedback
from support.feedback_load import (
    Request,
    SendOutcomes,
    numbered_requests,
    send_all,
    send_once,
)
from support.outbox_state import deliveries, wait_for_succeeded
from support.postgres_cluster import PostgresCluster
from support.recording_sink import Behaviour, RecordingSink
from support.scratch_database import scratch_database
from support.server_process import ServerLauncher, ServerProcess
from support.waiting import wait_until
from support.webhook_recipients import create_webhook_recipient

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#: The server's defaults, except: webhooks to loopback allowed (tests/support
#: BASE_SETTINGS) and quiet logs. The tests' quicker polling is set back to the default.
SERVER_SETTINGS = {"log_level": "WARNING", "poll_interval_seconds": "1.0"}
#: A recipient that "times out" holds each request this long: past the server's default
#: outbound timeout (15 s), so every attempt ends in the server's timeout.
NEVER_ANSWERS_SECONDS = 60.0
#: Longest any one measured phase may take before it is reported as not done.
PHASE_LIMIT = 120.0


@dataclass(frozen=True)
class Plan:
    recipients: int
    per_recipient: int
    throughput_runs: int
    kill_feedback: int
    kill_after_arrivals: int
    restarts: int
    outage_seconds: float


FULL = Plan(
    recipients=20,
    per_recipient=200,
    throughput_runs=3,
    kill_feedback=3000,
    kill_after_arrivals=500,
    restarts=3,
    outage_seconds=3.0,
)
QUICK = Plan(
    recipients=20,
    per_recipient=50,
    throughput_runs=1,
    kill_feedback=1000,
    kill_after_arrivals=200,
    restarts=1,
    outage_seconds=2.0,
)


def say(text: str) -> None:
    print(text, flush=True)


def seconds(value: float | None) -> str:
    return "not within the limit" if value is None else f"{value:.2f} s"


# --- (a) throughput to healthy recipients with 10% of the recipients broken -------------


@dataclass(frozen=True)
class ThroughputRun:
    broken: bool
    healthy_deliveries: int
    #: From the first request at any recipient to the last healthy delivery's arrival.
    span: float | None
    failed_attempts: int

    @property
    def rate(self) -> float | None:
        return None if self.span is None else self.healthy_deliveries / self.span


async def throughput_run(cluster: PostgresCluster, plan: Plan, broken: bool) -> ThroughputRun:
    """Accepts the whole load with the dispatcher off, then starts a delivering server
    and times the healthy deliveries."""
    names = [f"r{i:02d}" for i in range(plan.recipients)]
    failing = (
        {names[0]: Behaviour(status=500), names[1]: Behaviour(delay=NEVER_ANSWERS_SECONDS)}
        if broken
        else {}
    )
    async with (
        scratch_database(cluster, "bench") as database_url,
        RecordingSink() as sink,
        ServerLauncher(database_url, **SERVER_SETTINGS) as servers,
    ):
        for name, behaviour in failing.items():
            sink.by_path[f"/{name}"] = behaviour
        accepting = await servers.start(dispatcher_enabled="false")
        for name in names:
            await create_webhook_recipient(accepting, name, sink.url(f"/{name}"), SECRET)
        feedback = brief_example_feedback()
        requests = [
            Request(request_id=f"tp-{i}", feedback=feedback, recipient_ids=[names[i % len(names)]])
            for i in range(plan.recipients * plan.per_recipient)
        ]
        outcomes = SendOutcomes()
        await send_all(accepting.feedback, requests, 64, outcomes)
        await accepting.terminate(timeout=30)
        healthy = {
            d.id
            for answer in outcomes.acknowledged.values()
            for d in answer.deliveries
            if d.recipient_id not in failing
        }
        delivering = await servers.start()
        done = await wait_until(
            lambda: all(i in sink.counts for i in healthy), PHASE_LIMIT, interval=0.02
        )
        span = None
        if done and sink.arrivals:
            first_arrival: dict[str, float] = {}
            for arrival in sink.arrivals:
                first_arrival.setdefault(arrival.webhook_id, arrival.at)
            span = max(first_arrival[i] for i in healthy) - sink.arrivals[0].at
        failed = sum(1 for a in sink.arrivals if a.path[1:] in failing)
        await delivering.kill()
        return ThroughputRun(broken, len(healthy), span, failed)


async def bench_throughput(cluster: PostgresCluster, plan: Plan) -> None:
    total = plan.recipients * plan.per_recipient
    say(
        f"\n(a) Throughput to healthy recipients: {plan.recipients} webhook recipients, "
        f"{total} feedback round-robin (one recipient each), accepted with the dispatcher "
        "off, then one server with default settings delivers. Broken run: 1 recipient "
        f"answers 500, 1 never answers (held {NEVER_ANSWERS_SECONDS:.0f} s, so the "
        "server's 15 s outbound timeout ends each attempt). Time: first request at any "
        "recipient -> last healthy delivery's arrival."
    )
    rates: dict[bool, list[float]] = {False: [], True: []}
    for number in range(1, plan.throughput_runs + 1):
        for broken in (False, True):
            run = await throughput_run(cluster, plan, broken)
            label = "10% broken" if broken else "all healthy"
            extra = f", {run.failed_attempts} requests reached the broken" if broken else ""
            if run.rate is None:
                say(f"  run {number} {label}: healthy deliveries not all done{extra}")
                continue
            rates[broken].append(run.rate)
            say(
                f"  run {number} {label}: {run.healthy_deliveries} healthy deliveries in "
                f"{run.span:.2f} s = {run.rate:.0f}/s{extra}"
            )
    if rates[False] and rates[True]:
        all_healthy = statistics.median(rates[False])
        some_broken = statistics.median(rates[True])
        say(
            f"  median all healthy {all_healthy:.0f}/s, 10% broken {some_broken:.0f}/s: "
            f"ratio {some_broken / all_healthy:.2f}x (aim >= 0.9x)"
        )


# --- (b) recovery after kill -9 ----------------------------------------------------------

KILL_LEASE_SECONDS = 10.0
KILL_SINK_DELAY = 0.005


async def bench_kill_recovery(cluster: PostgresCluster, plan: Plan) -> None:
    say(
        f"\n(b) Recovery after kill -9: {plan.kill_feedback} feedback for one recipient "
        f"(answering in {KILL_SINK_DELAY * 1000:.0f} ms) accepted with the dispatcher off; "
        f"a delivering server is killed (-9) once {plan.kill_after_arrivals} arrived, and "
        f"restarted on the same database (BACKCHANNEL_LEASE_SECONDS={KILL_LEASE_SECONDS:g}, "
        "else defaults). Times from the restart (process spawned)."
    )
    async with (
        scratch_database(cluster, "bench") as database_url,
        RecordingSink(delay=KILL_SINK_DELAY) as sink,
        ServerLauncher(
            database_url, lease_seconds=KILL_LEASE_SECONDS, **SERVER_SETTINGS
        ) as servers,
    ):
        accepting = await servers.start(dispatcher_enabled="false")
        await create_webhook_recipient(accepting, "acme", sink.url(), SECRET)
        requests = numbered_requests("kill", plan.kill_feedback, brief_example_feedback(), ["acme"])
        await send_all(accepting.feedback, requests, 64, SendOutcomes())
        await accepting.terminate(timeout=30)
        doomed = await servers.start()
        await wait_until(lambda: len(sink.arrivals) >= plan.kill_after_arrivals, PHASE_LIMIT)
        await doomed.kill()
        at_kill = await deliveries(database_url)
        pending = {i for i, row in at_kill.items() if row.state == "pending"}
        in_flight = {i for i, row in at_kill.items() if row.state == "in_flight"}
        before_restart = len(sink.arrivals)
        restarted = time.monotonic()
        await servers.start()
        listening = time.monotonic() - restarted

        def since_restart(done: bool) -> float | None:
            return time.monotonic() - restarted if done else None

        first_delivery = since_restart(
            await wait_until(lambda: len(sink.arrivals) > before_restart, PHASE_LIMIT, 0.005)
        )
        backlog = since_restart(
            await wait_until(lambda: all(i in sink.counts for i in pending), PHASE_LIMIT, 0.02)
        )
        everything = since_restart(
            await wait_for_succeeded(database_url, len(at_kill), PHASE_LIMIT)
        )
    say(f"  at the kill: {len(pending)} deliveries pending, {len(in_flight)} in flight")
    say(f"  restart -> listening:                   {seconds(listening)}")
    say(f"  restart -> first delivery:              {seconds(first_delivery)}")
    say(f"  restart -> every pending one delivered: {seconds(backlog)}")
    say(
        f"  restart -> everything succeeded:        {seconds(everything)} (in-flight ones "
        "wait for their lease to expire)"
    )


# --- (c) recovery after a Postgres restart --------------------------------------------


@dataclass(frozen=True)
class Call:
    started: float
    ended: float
    ok: bool
    delivery_id: str


async def postgres_recovery(
    cluster: PostgresCluster, plan: Plan
) -> tuple[float | None, float | None, float | None]:
    """(first OK SendFeedback, first delivery, first delivery of feedback accepted after
    the return), each in seconds from Postgres back (pg_ctl start returned)."""
    async with (
        scratch_database(cluster, "bench") as database_url,
        RecordingSink() as sink,
        ServerLauncher(database_url, **SERVER_SETTINGS) as servers,
    ):
        server = await servers.start()
        await create_webhook_recipient(server, "acme", sink.url(), SECRET)
        calls: list[Call] = []
        stop = asyncio.Event()
        feedback = brief_example_feedback()
        numbers = iter(range(10**9))

        async def sender(client: ServerProcess) -> None:
            while not stop.is_set():
                request = Request(
                    request_id=f"pg-{next(numbers)}", feedback=feedback, recipient_ids=["acme"]
                )
                started = time.monotonic()
                answer = await send_once(client.feedback, request)
                ok = not isinstance(answer, grpc.StatusCode)
                delivery = "" if isinstance(answer, grpc.StatusCode) else answer.deliveries[0].id
                calls.append(Call(started, time.monotonic(), ok, delivery))
                await asyncio.sleep(0.01 if ok else 0.005)

        senders = [asyncio.create_task(sender(server)) for _ in range(4)]
        try:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.stop, "fast")
            await asyncio.sleep(plan.outage_seconds)
            await asyncio.to_thread(cluster.start)
            back = time.monotonic()
            arrived_before = len(sink.arrivals)

            def first_ok() -> float | None:
                oks = [c.ended for c in calls if c.ok and c.started >= back]
                return min(oks) - back if oks else None

            def first_new_delivery() -> float | None:
                fresh = {c.delivery_id for c in calls if c.ok and c.started >= back}
                times = [a.at for a in sink.arrivals[arrived_before:] if a.webhook_id in fresh]
                return min(times) - back if times else None

            await wait_until(lambda: first_ok() is not None, 30, 0.005)
            any_delivery = None
            if await wait_until(lambda: len(sink.arrivals) > arrived_before, 30, 0.005):
                any_delivery = sink.arrivals[arrived_before].at - back
            await wait_until(lambda: first_new_delivery() is not None, 30, 0.005)
            return first_ok(), any_delivery, first_new_delivery()
        finally:
            stop.set()
            await asyncio.gather(*senders)
            await server.terminate(timeout=30)
            for line in server.output:
                # A clean exit reports background tasks that had died with an exception.
                if line.startswith("future: <Task finished"):
                    say(f"    server at exit: {line.strip()[:220]}")


async def bench_postgres_recovery(cluster: PostgresCluster, plan: Plan) -> None:
    say(
        f"\n(c) Recovery after a Postgres restart: a fresh server (defaults) with 4 clients "
        f"sending one feedback at a time; pg_ctl stop -m fast, {plan.outage_seconds:g} s "
        "down, pg_ctl start; the server is left running. Times from Postgres back "
        "(pg_ctl start returned); 30 s limit each."
    )
    for number in range(1, plan.restarts + 1):
        first_ok, any_delivery, new_delivery = await postgres_recovery(cluster, plan)
        say(
            f"  restart {number}: first OK SendFeedback {seconds(first_ok)}; first delivery "
            f"{seconds(any_delivery)}; first delivery of feedback accepted after the "
            f"return {seconds(new_delivery)}"
        )


# --- the run -----------------------------------------------------------------------------


async def postgres_settings(cluster: PostgresCluster) -> str:
    connection = await asyncpg.connect(cluster.url())
    try:
        values = [
            f"{name}={await connection.fetchval(f'SHOW {name}')}"
            for name in ("server_version", "fsync", "synchronous_commit")
        ]
    finally:
        await connection.close()
    return ", ".join(values)


async def run(plan: Plan, parts: Sequence[str]) -> None:
    cluster = PostgresCluster()
    try:
        await asyncio.to_thread(cluster.init)
        await asyncio.to_thread(cluster.start)
        say(f"machine: {os.cpu_count()} cores; Postgres: {await postgres_settings(cluster)}")
        started = time.monotonic()
        if "throughput" in parts:
            await bench_throughput(cluster, plan)
        if "kill" in parts:
            await bench_kill_recovery(cluster, plan)
        if "postgres" in parts:
            await bench_postgres_recovery(cluster, plan)
        say(f"\ntotal {time.monotonic() - started:.0f} s")
    finally:
        await asyncio.to_thread(cluster.destroy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one run each")
    parser.add_argument(
        "--only",
        default="throughput,kill,postgres",
        help="comma-separated parts: throughput, kill, postgres",
    )
    args = parser.parse_args()
    asyncio.run(run(QUICK if args.quick else FULL, args.only.split(",")))


if __name__ == "__main__":
    main()
