"""Backchannel benchmarks, one command from nothing: ``python bench/run.py [--quick]``.

Starts a throwaway Postgres cluster (fsync on, synchronous_commit on: durable like
production), a webhook sink process, an echo gRPC server process and ``backchannel serve``
processes, drives them from this process (the client), and prints a table of figures with
ratios against ceilings measured in the same run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import platform
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))


def _run_from_git_ref() -> None:
    """``--ref REF``: benchmark a commit instead of the working tree. Exports it with
    ``git archive`` and runs this script again with that copy first on PYTHONPATH (for
    this process and every server it starts). Done before anything of backchannel is
    imported, so a working tree in mid-edit does not matter."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--ref")
    known, _ = parser.parse_known_args()
    if not known.ref or os.environ.get("BENCH_SOURCE"):
        return
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{known.ref}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    source = Path(tempfile.mkdtemp(prefix="backchannel-bench-src-"))
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", sha],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        env = dict(os.environ)
        paths = [str(source / "server"), str(source / "plugins" / "webhook")]
        env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(":")
        env["BENCH_SOURCE"] = f"{known.ref}@{sha[:10]}={source}"
        code = subprocess.run([sys.executable, *sys.argv], env=env, check=False).returncode
    finally:
        shutil.rmtree(source, ignore_errors=True)
    raise SystemExit(code)


def describe_source() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    if os.environ.get("BENCH_SOURCE"):
        ref, _, path = os.environ["BENCH_SOURCE"].partition("=")
        return f"git {ref}, exported to {path}"
    dirty = git("status", "--porcelain", "--", "server", "plugins", "protos")
    return f"working tree {REPO} at {git('rev-parse', '--short', 'HEAD')}" + (
        " + uncommitted changes in server/plugins/protos" if dirty else ""
    )


if __name__ == "__main__":
    _run_from_git_ref()

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import grpc  # noqa: E402
from backchannel_client.v1 import (  # noqa: E402
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
    recipient_service_pb2_grpc,
)
from common import (  # noqa: E402
    RECIPIENT_ID,
    SEND_FEEDBACK,
    SIGNING_SECRET,
    CpuMeter,
    canned_response,
    machine_seconds,
    median,
    percentile,
    process_tree,
    send_request,
    serialized_requests,
)
from profiling import Profile, find_py_spy  # noqa: E402
from support.postgres_cluster import PostgresCluster, free_port  # noqa: E402

from backchannel.feedback_document import feedback_document  # noqa: E402
from backchannel.formatters import JsonFormatter  # noqa: E402
from backchannel.sealing.key_ring import new_key_entry  # noqa: E402

IN_FLIGHT = 64
Metadata = tuple[tuple[str, str], ...]
#: The machine counts as quiet below this share of one core busy (everything included).
QUIET_PERCENT = 25.0
START_TIMEOUT = 60.0
CALL_TIMEOUT = 30.0


@dataclass(frozen=True)
class Plan:
    runs: int
    accept_warmup: int
    accept_count: int
    raw_post_count: int
    e2e_count: int
    e2e_warmup: int
    latency_count: int
    latency_gap: float
    commit_count: int
    deadline: float


FULL = Plan(
    runs=3,
    accept_warmup=500,
    accept_count=5000,
    raw_post_count=20000,
    e2e_count=3000,
    e2e_warmup=200,
    latency_count=200,
    latency_gap=0.02,
    commit_count=300,
    deadline=600.0,
)
QUICK = Plan(
    runs=1,
    accept_warmup=100,
    accept_count=600,
    raw_post_count=2000,
    e2e_count=400,
    e2e_warmup=50,
    latency_count=30,
    latency_gap=0.02,
    commit_count=50,
    deadline=120.0,
)


def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------- processes


@dataclass
class Child:
    """A process this benchmark started; stopped by its own pid only."""

    name: str
    process: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()


class Processes:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.children: list[Child] = []
        self._serial = 0

    async def start(
        self, name: str, argv: Sequence[str], ready_prefix: str, env: dict[str, str] | None = None
    ) -> Child:
        self._serial += 1
        log_path = self.workdir / f"{self._serial:02d}-{name}.log"
        log = log_path.open("wb")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
                env=env,
                cwd=str(BENCH),
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        child = Child(name, process, 0, log_path)
        self.children.append(child)
        assert process.stdout is not None
        try:
            while True:
                line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
                if not line:
                    raise RuntimeError(f"{name} exited while starting; see {log_path}")
                text = line.decode().strip()
                if text.startswith(ready_prefix):
                    # "... listening on HOST:PORT" or "... on HOST:PORT (plaintext)".
                    child.port = int(re.findall(r"\d+", text)[-1])
                    return child
        except BaseException:
            await child.stop()
            raise

    async def stop(self, child: Child) -> None:
        await child.stop()
        if child in self.children:
            self.children.remove(child)

    async def stop_all(self) -> None:
        for child in reversed(self.children):
            await child.stop()
        self.children.clear()


try:
    _PRCTL: Callable[..., int] | None = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In a child before exec: SIGTERM it if this benchmark dies, however it dies."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def python_argv(script: str, *args: str) -> list[str]:
    return [sys.executable, str(BENCH / script), *args]


@dataclass
class Env:
    cluster: PostgresCluster
    processes: Processes
    sink: Child
    plan: Plan
    postmaster_pid: int
    py_spy: str | None = None
    #: Seconds this run may still spend waiting for the machine to go quiet.
    quiet_budget: float = 90.0
    quiet_waited: float = 0.0
    quiet_gave_up: int = 0
    _databases: int = 0

    async def wait_quiet(self) -> None:
        """Before a measured interval: waits (within the run's budget) until the machine
        has been nearly idle for half a second, so another session's burst of work does not
        land in the measurement. Our own processes are idle between runs."""
        started = time.monotonic()
        while True:
            before, _ = machine_seconds()
            await asyncio.sleep(0.5)
            after, _ = machine_seconds()
            busy = 100.0 * (after - before) / 0.5
            waited = time.monotonic() - started
            if busy < QUIET_PERCENT:
                break
            if waited >= self.quiet_budget:
                self.quiet_gave_up += 1
                break
        self.quiet_budget = max(0.0, self.quiet_budget - waited)
        self.quiet_waited += waited

    @property
    def sink_url(self) -> str:
        return f"http://127.0.0.1:{self.sink.port}/hook"

    def postgres_pids(self) -> list[int]:
        return process_tree(self.postmaster_pid)

    async def fresh_database(self, label: str) -> str:
        self._databases += 1
        name = f"bench_{self._databases}_{label}"
        admin = await asyncpg.connect(self.cluster.url())
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return self.cluster.url(name)

    async def start_backchannel(
        self, database_url: str, dispatcher: bool, delivery_processes: int = 0, auth: bool = False
    ) -> Child:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
        env.update(
            BACKCHANNEL_DATABASE_URL=database_url,
            BACKCHANNEL_LISTEN=f"127.0.0.1:{free_port()}",
            BACKCHANNEL_DISPATCHER_ENABLED="true" if dispatcher else "false",
            BACKCHANNEL_DELIVERY_PROCESSES=str(delivery_processes),
            BACKCHANNEL_OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8",
            BACKCHANNEL_SECRET_KEYS=new_key_entry("bench-1"),
            BACKCHANNEL_LOG_LEVEL="WARNING",
        )
        if auth:
            env["BACKCHANNEL_AUTH"] = "on"
        return await self.processes.start(
            "backchannel-serve" + ("" if dispatcher else "-nodispatch") + ("-auth" if auth else ""),
            [sys.executable, "-m", "backchannel.cli", "serve"],
            "Backchannel listening on",
            env,
        )

    def meter(self, **groups: Callable[[], Iterable[int]]) -> CpuMeter:
        return CpuMeter({**groups, "client": lambda: [os.getpid()], "postgres": self.postgres_pids})


# ---------------------------------------------------------------------------- clients


def tokens_supported() -> bool:
    """Whether the code benchmarked has bearer tokens (--ref may name an older commit)."""
    import importlib.util

    return importlib.util.find_spec("backchannel.local_tokens") is not None


async def bootstrap_token(database_url: str) -> str:
    """An admin token for ``database_url``, made as an operator makes the first one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env["BACKCHANNEL_DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backchannel.cli", "tokens", "bootstrap", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), START_TIMEOUT)
    if process.returncode != 0:
        raise RuntimeError(f"tokens bootstrap failed: {err.decode()}")
    return out.decode().strip()


async def create_recipient(port: int, url: str, metadata: Metadata = ()) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = recipient_service_pb2_grpc.RecipientServiceStub(channel)
        recipient = recipient_pb2.Recipient(
            id=RECIPIENT_ID,
            recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE,
            transport="webhook",
            format="json",
        )
        recipient.transport_settings.update({"url": url})
        recipient.secret_settings.update({"signing_secrets": SIGNING_SECRET})
        await stub.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient),
            timeout=10,
            metadata=metadata,
        )


@dataclass
class LoadResult:
    count: int
    seconds: float
    errors: int
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.seconds


async def send_load(
    channel: grpc.aio.Channel,
    payloads: Sequence[bytes],
    in_flight: int = IN_FLIGHT,
    metadata: Metadata = (),
) -> LoadResult:
    """Sends pre-serialized SendFeedback requests, ``in_flight`` at a time, each once, each
    with ``metadata`` (a bearer token)."""
    call = channel.unary_unary(SEND_FEEDBACK)
    pending = iter(payloads)
    errors: list[str] = []

    async def worker() -> None:
        for payload in pending:
            try:
                await call(payload, timeout=CALL_TIMEOUT, metadata=metadata)
            except grpc.aio.AioRpcError as error:
                errors.append(f"{error.code().name}: {error.details()}")

    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(in_flight))),
        CALL_TIMEOUT + len(payloads) / 50,
    )
    elapsed = time.perf_counter() - started
    return LoadResult(len(payloads), elapsed, len(errors), errors[0] if errors else "")


def check(result: LoadResult, what: str) -> None:
    if result.errors:
        raise RuntimeError(f"{what}: {result.errors} calls failed, e.g. {result.first_error}")


async def sink_get(env: Env, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{env.sink.port}{path}") as response,
    ):
        return await response.json()


async def sink_reset(env: Env) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{env.sink.port}/_reset") as response,
    ):
        response.raise_for_status()


async def wait_for_succeeded(
    database_url: str, target: int, timeout: float, sink: tuple[Env, int] | None = None
) -> tuple[float, int, int]:
    """Polls feedback_events until ``target`` attempts have succeeded; returns the wall
    time (time.time()) it was seen, and the succeeded and total counts.

    Counting the events takes Postgres a scan of the table (about 1.5 ms at 10,000 rows),
    and polled every 10 ms through a measured run it took a sixth of Postgres's time from
    the server measured. With ``sink`` = (env, count), the sink's own count (an HTTP GET
    it answers from memory) is polled until it has seen ``count`` requests since its
    last reset, and only then the table: the events trail the requests by a few ms."""
    deadline = time.monotonic() + timeout
    if sink is not None:
        env, count = sink
        while (await sink_get(env, "/_stats"))["count"] < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the sink saw fewer than {count} requests in {timeout}s")
            await asyncio.sleep(0.01)
    connection = await asyncpg.connect(database_url)
    try:
        while True:
            row = await connection.fetchrow(
                "SELECT count(*) FILTER (WHERE processing_status = 'succeeded') AS ok, "
                "count(*) AS total FROM feedback_events"
            )
            now = time.time()
            ok, total = row["ok"], row["total"]
            if ok >= target:
                return now, ok, total
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {ok} of {target} deliveries succeeded in {timeout}s")
            await asyncio.sleep(0.01)
    finally:
        await connection.close()


async def group_commit_batches(database_url: str) -> tuple[int, int]:
    """Feedback rows, and the transactions that wrote them (distinct xmin: feedback rows
    are never updated), so the average group-commit batch is their ratio."""
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT xmin::text) AS x FROM feedback"
        )
    finally:
        await connection.close()
    return row["n"], row["x"]


async def first_attempt_start(database_url: str) -> float:
    connection = await asyncpg.connect(database_url)
    try:
        value: datetime = await connection.fetchval("SELECT min(start_time) FROM feedback_events")
    finally:
        await connection.close()
    return value.timestamp()


# ---------------------------------------------------------------------------- benchmarks


@dataclass
class Row:
    name: str
    value: str
    ceiling: str = ""
    ratio: float | None = None
    aim: str = ""
    verdict: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)

    def detail(self, text: str) -> None:
        self.details.append(text)
        say("  " + text)


async def profiled(
    env: Env, report: Report, child: Child, label: str, work: Callable[[], Awaitable[Any]]
) -> None:
    """An extra, unmeasured run of ``work`` with py-spy sampling ``child``."""
    if env.py_spy is None:
        return
    say(f"  profiling {label} (extra run, not counted)")
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    profile = Profile(env.py_spy, child.pid, env.processes.workdir / f"profile-{slug}.txt")
    await profile.start()
    try:
        await work()
    finally:
        summary = await profile.stop()
    report.profiles.append(f"  {label} (py-spy, server pid {child.pid}):\n{summary}")


def verdict_ratio(ratio: float, aim: float) -> str:
    return "meets aim" if ratio >= aim else "BELOW aim"


def runs_text(values: Sequence[float], unit: str = "") -> str:
    return "runs " + " / ".join(f"{v:,.0f}" for v in values) + unit


async def bench_commit_latency(env: Env, report: Report) -> None:
    """Context: one durable single-row commit on one connection (the floor of any accept)."""
    url = await env.fresh_database("commit")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("CREATE TABLE t (id bigint PRIMARY KEY, v text)")
        times = []
        for i in range(env.plan.commit_count):
            started = time.perf_counter()
            await connection.execute("INSERT INTO t VALUES ($1, 'x')", i)
            times.append(time.perf_counter() - started)
    finally:
        await connection.close()
    p50 = percentile(times, 50) * 1000
    report.detail(
        f"durable commit, 1 connection: p50 {p50:.2f} ms, p99 "
        f"{percentile(times, 99) * 1000:.2f} ms ({len(times) / sum(times):,.0f} commits/s)"
    )
    report.rows.append(Row("0  Postgres commit, 1 conn (context)", f"p50 {p50:.2f} ms", aim="-"))


async def bench_accepts(env: Env, report: Report) -> float:
    """Rows 1a-1**; returns the echo ceiling's rate."""
    plan = env.plan
    say(f"\n[1] durable accepts: {plan.runs} x {plan.accept_count} calls, {IN_FLIGHT} in flight")
    echo = await env.processes.start("echo-server", python_argv("echo_server.py"), "PORT")
    echo_intercepted = await env.processes.start(
        "echo-server-intercepted", python_argv("echo_server.py", "--interceptors"), "PORT"
    )
    floor_url = await env.fresh_database("accept_floor")
    floor = await env.processes.start(
        "floor-server", python_argv("floor_server.py", "--database-url", floor_url), "PORT"
    )
    storage_url = await env.fresh_database("accept_storage_floor")
    storage_floor = await env.processes.start(
        "storage-floor-server",
        python_argv("storage_floor_server.py", "--database-url", storage_url),
        "PORT",
    )
    off_url = await env.fresh_database("accept_off")
    off = await env.start_backchannel(off_url, dispatcher=False)
    on_url = await env.fresh_database("accept_on")
    on = await env.start_backchannel(on_url, dispatcher=True)
    await create_recipient(off.port, env.sink_url)
    await create_recipient(on.port, env.sink_url)
    targets = {
        "echo": echo,
        "echo+interceptors": echo_intercepted,
        "durable floor": floor,
        "storage floor": storage_floor,
        "dispatcher-off": off,
        "dispatcher-on": on,
    }
    metadata: dict[str, Metadata] = {}
    if tokens_supported():
        # 1a+: the same server with authentication on and a bearer token on every call,
        # measured right after 1a in each run, so the pair sees the same machine.
        token_url = await env.fresh_database("accept_token")
        with_token = await env.start_backchannel(token_url, dispatcher=False, auth=True)
        metadata["off+token"] = (("authorization", f"Bearer {await bootstrap_token(token_url)}"),)
        await create_recipient(with_token.port, env.sink_url, metadata["off+token"])
        order = list(targets.items())
        order.insert(list(targets).index("dispatcher-off") + 1, ("off+token", with_token))
        targets = dict(order)
    channels = {n: grpc.aio.insecure_channel(f"127.0.0.1:{c.port}") for n, c in targets.items()}
    rates: dict[str, list[float]] = {n: [] for n in targets}
    server_micros: dict[str, list[float]] = {n: [] for n in targets}
    delivered_on = 0
    try:
        for name, channel in channels.items():
            warmup = serialized_requests(plan.accept_warmup)
            check(await send_load(channel, warmup, metadata=metadata.get(name, ())), name)
        delivered_on = plan.accept_warmup
        await wait_for_succeeded(on_url, delivered_on, 120.0)
        for run in range(plan.runs):
            for name, channel in channels.items():
                payloads = serialized_requests(plan.accept_count)
                meter = env.meter(server=lambda c=targets[name]: [c.pid])
                await env.wait_quiet()
                meter.start()
                result = await send_load(channel, payloads, metadata=metadata.get(name, ()))
                meter.stop()
                check(result, name)
                rates[name].append(result.rate)
                server_micros[name].append(meter.micros_each("server", result.count))
                report.detail(
                    f"run {run + 1} {name:17s} {result.rate:7,.0f} calls/s  "
                    f"({result.seconds:.2f} s, server {server_micros[name][-1]:.0f} us/call)  "
                    f"cpu: {meter.describe()}"
                )
                if name == "dispatcher-on":
                    # Let the backlog drain so the next run starts from quiet.
                    accepted_at = time.time()
                    delivered_on += plan.accept_count
                    drained, _, _ = await wait_for_succeeded(on_url, delivered_on, 300.0)
                    report.detail(
                        f"    its deliveries all succeeded {max(0.0, drained - accepted_at):.2f}"
                        " s after the last accept"
                    )
        await profiled(
            env,
            report,
            off,
            "SendFeedback, dispatcher off",
            lambda: send_load(channels["dispatcher-off"], serialized_requests(plan.accept_count)),
        )
        for name, url in (("dispatcher-off", off_url), ("dispatcher-on", on_url)):
            rows, transactions = await group_commit_batches(url)
            report.detail(
                f"{name}: {rows} feedback rows written by {transactions} transactions "
                f"= {rows / max(transactions, 1):.1f} accepts per commit (group-commit batch)"
            )
    finally:
        for channel in channels.values():
            await channel.close()
        for child in targets.values():
            await env.processes.stop(child)
    echo_rate = median(rates["echo"])
    for name, label in (
        ("dispatcher-off", "1a Durable accepts/s, dispatcher off"),
        ("dispatcher-on", "1b Durable accepts/s, dispatcher on"),
    ):
        value = median(rates[name])
        ratio = value / echo_rate
        report.rows.append(
            Row(
                label,
                f"{value:,.0f} calls/s",
                f"{echo_rate:,.0f} RPC/s grpc.aio echo",
                ratio,
                ">= 0.8x" if name == "dispatcher-off" else "(info)",
                verdict_ratio(ratio, 0.8) if name == "dispatcher-off" else "",
            )
        )
    if "off+token" in rates:
        with_token, without = median(rates["off+token"]), median(rates["dispatcher-off"])
        ratio = with_token / without
        report.rows.append(
            Row(
                "1a+ the same, authentication on, a bearer token on every call",
                f"{with_token:,.0f} calls/s",
                f"{without:,.0f} calls/s 1a",
                ratio,
                ">= 0.95x",
                verdict_ratio(ratio, 0.95),
            )
        )
        paired = [t / o for t, o in zip(rates["off+token"], rates["dispatcher-off"], strict=True)]
        report.detail(
            "token checks: server CPU per call "
            f"{median(server_micros['off+token']):.0f} us with a token, "
            f"{median(server_micros['dispatcher-off']):.0f} us without "
            f"(+{median(server_micros['off+token']) - median(server_micros['dispatcher-off']):.0f}"
            " us); 1a+ / 1a run by run: " + " / ".join(f"{r:.3f}x" for r in paired)
        )
    intercepted_rate = median(rates["echo+interceptors"])
    report.rows.append(
        Row(
            "1* echo + server's interceptors (diag.)",
            f"{intercepted_rate:,.0f} RPC/s",
            f"{echo_rate:,.0f} RPC/s grpc.aio echo",
            intercepted_rate / echo_rate,
            "(info)",
        )
    )
    floor_rate = median(rates["durable floor"])
    report.rows.append(
        Row(
            "1** echo + durable group commit (floor, diag.)",
            f"{floor_rate:,.0f} RPC/s",
            f"{echo_rate:,.0f} RPC/s grpc.aio echo",
            floor_rate / echo_rate,
            "(info)",
        )
    )
    storage_rate = median(rates["storage floor"])
    report.rows.append(
        Row(
            "1*** echo + Backchannel's storage (floor, diag.)",
            f"{storage_rate:,.0f} RPC/s",
            f"{echo_rate:,.0f} RPC/s grpc.aio echo",
            storage_rate / echo_rate,
            "(info)",
        )
    )
    report.detail(
        "medians: " + ", ".join(f"{n} {median(v):,.0f} ({runs_text(v)})" for n, v in rates.items())
    )
    report.detail(
        "server CPU per call (median): "
        + ", ".join(f"{n} {median(v):.0f} us" for n, v in server_micros.items())
        + "; SendFeedback's own work (dispatcher-off minus storage floor): "
        f"{median(server_micros['dispatcher-off']) - median(server_micros['storage floor']):.0f}"
        " us"
    )
    paired = [off / echo for off, echo in zip(rates["dispatcher-off"], rates["echo"], strict=True)]
    report.detail(
        "dispatcher-off / echo run by run (each pair measured back to back): "
        + " / ".join(f"{r:.2f}x" for r in paired)
    )
    return echo_rate


def raw_payload() -> tuple[bytes, dict[str, str]]:
    """The body the webhook transport sends for the brief's example, and its headers."""
    from backchannel_webhook._signing import signature_header, signing_key

    response = canned_response()
    body = JsonFormatter().render(feedback_document(response.feedback), {}).body
    timestamp = int(time.time())
    delivery_id = response.deliveries[0].id
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Backchannel/bench",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            [signing_key(SIGNING_SECRET)], delivery_id, timestamp, body
        ),
        "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
    }
    return body, headers


async def raw_post_rate(env: Env, count: int) -> tuple[float, str]:
    body, headers = raw_payload()
    url = env.sink_url
    pending = iter(range(count))
    failures = 0
    await sink_reset(env)
    meter = env.meter(sink=lambda: [env.sink.pid])
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failures
            for i in pending:
                async with session.post(
                    url, data=body, headers={**headers, "webhook-id": f"raw_{i}"}
                ) as response:
                    await response.read()
                    if response.status // 100 != 2:
                        failures += 1

        await env.wait_quiet()
        meter.start()
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(IN_FLIGHT))), 120.0)
        elapsed = time.perf_counter() - started
        meter.stop()
    stats = await sink_get(env, "/_stats")
    if failures or stats["count"] != count:
        raise RuntimeError(f"raw POST loop: {failures} failures, sink saw {stats['count']}")
    return count / elapsed, meter.describe()


async def bench_raw_posts(env: Env, report: Report) -> float:
    plan = env.plan
    say(
        f"\n[2*] raw aiohttp POST ceiling: {plan.runs} x {plan.raw_post_count}, {IN_FLIGHT} at once"
    )
    body, _ = raw_payload()
    await raw_post_rate(env, min(1000, plan.raw_post_count))  # warm-up
    rates = []
    for run in range(plan.runs):
        rate, cpu = await raw_post_rate(env, plan.raw_post_count)
        rates.append(rate)
        report.detail(
            f"run {run + 1} raw POST {rate:7,.0f} req/s  ({len(body)} B body)  cpu: {cpu}"
        )
    return median(rates)


async def accept_all(env: Env, port: int, count: int) -> LoadResult:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        result = await send_load(channel, serialized_requests(count))
    check(result, "accept")
    return result


async def preloaded_once(
    env: Env, report: Report, n: int, profile_label: str | None = None
) -> tuple[float, str]:
    """Accepts ``n`` feedback with no dispatcher, then starts a server with one and times
    from its first attempt to the moment all ``n`` are recorded as succeeded."""
    url = await env.fresh_database("e2e_pre")
    loader = await env.start_backchannel(url, dispatcher=False)
    try:
        await create_recipient(loader.port, env.sink_url)
        loaded = await accept_all(env, loader.port, n)
    finally:
        await env.processes.stop(loader)
    await sink_reset(env)
    await env.wait_quiet()
    server = await env.start_backchannel(url, dispatcher=True)
    meter = env.meter(server=lambda: [server.pid], sink=lambda: [env.sink.pid])
    meter.start()
    try:
        if profile_label is not None:
            await profiled(
                env,
                report,
                server,
                profile_label,
                lambda: wait_for_succeeded(url, n, 300.0, (env, n)),
            )
        done, ok, total = await wait_for_succeeded(url, n, 300.0, (env, n))
        meter.stop()
    finally:
        await env.processes.stop(server)
    began = await first_attempt_start(url)
    stats = await sink_get(env, "/_stats")
    rate = n / (done - began)
    return rate, (
        f"{rate:7,.0f} deliveries/s  ({done - began:.2f} s; sink saw {stats['count']} in "
        f"{stats['last'] - stats['first']:.2f} s; attempts {total}, ok {ok}; loading ran at "
        f"{loaded.rate:,.0f}/s)  cpu: {meter.describe()}"
    )


async def bench_e2e_preloaded(env: Env, report: Report, raw_rate: float) -> None:
    plan = env.plan
    n = plan.e2e_count
    say(f"\n[2a] end-to-end, pre-loaded: {plan.runs} x {n} feedback, then the dispatcher starts")
    rates = []
    for run in range(plan.runs):
        rate, text = await preloaded_once(env, report, n)
        rates.append(rate)
        report.detail(f"run {run + 1} pre-loaded {text}")
    if env.py_spy is not None:
        await preloaded_once(env, report, 3 * n, f"deliveries, pre-loaded ({3 * n})")
    value = median(rates)
    report.rows.append(
        Row(
            "2a E2E deliveries/s, pre-loaded",
            f"{value:,.0f} deliveries/s",
            f"{raw_rate:,.0f} POST/s raw aiohttp",
            value / raw_rate,
            ">= 0.5x",
            verdict_ratio(value / raw_rate, 0.5),
        )
    )


async def floor_deliveries_once(env: Env, n: int) -> tuple[float, str]:
    """The outbox floor (floor_dispatcher.py) delivering ``n`` pre-loaded rows to the sink."""
    url = await env.fresh_database("deliver_floor")
    body_file = env.processes.workdir / "floor-body.json"
    body_file.write_bytes(raw_payload()[0])
    await sink_reset(env)
    floor = await env.processes.start(
        "floor-dispatcher",
        python_argv(
            "floor_dispatcher.py",
            *("--database-url", url, "--sink", env.sink_url, "--count", str(n)),
            *("--body-file", str(body_file)),
        ),
        "READY",
    )
    meter = env.meter(server=lambda: [floor.pid], sink=lambda: [env.sink.pid])
    meter.start()
    try:
        assert floor.process.stdout is not None
        line = await asyncio.wait_for(floor.process.stdout.readline(), 300.0)
        meter.stop()
        if not line.startswith(b"RATE "):
            raise RuntimeError(f"the floor dispatcher failed; see {floor.log_path}")
    finally:
        await env.processes.stop(floor)
    rate = float(line.split()[1])
    return rate, f"{rate:7,.0f} deliveries/s  cpu: {meter.describe()}"


async def bench_floor_deliveries(env: Env, report: Report, raw_rate: float) -> None:
    plan = env.plan
    n = plan.e2e_count
    say(f"\n[2**] outbox floor, pre-loaded: {plan.runs} x {n} rows, claim/POST/record only")
    rates = []
    for run in range(plan.runs):
        await env.wait_quiet()
        rate, text = await floor_deliveries_once(env, n)
        rates.append(rate)
        report.detail(f"run {run + 1} floor {text}")
    value = median(rates)
    report.rows.append(
        Row(
            "2** raw POST + durable claim/record (floor, diag.)",
            f"{value:,.0f} deliveries/s",
            f"{raw_rate:,.0f} POST/s raw aiohttp",
            value / raw_rate,
            "(info)",
        )
    )


async def concurrent_once(
    env: Env, n: int, layout: str, profile: tuple[Report, str] | None = None
) -> tuple[float, str]:
    """Accepts ``n`` feedback (64 in flight) while they are delivered; times from the first
    send to the moment all ``n`` are recorded as succeeded. ``layout``: ``one`` process
    accepts and delivers; ``two``: the accepting server runs without a dispatcher and a
    second server process (same database) delivers; ``child``: one ``backchannel serve``
    with BACKCHANNEL_DELIVERY_PROCESSES=1 (it accepts, its child process delivers)."""
    plan = env.plan
    url = await env.fresh_database("e2e_conc")
    server = await env.start_backchannel(
        url, dispatcher=layout != "two", delivery_processes=1 if layout == "child" else 0
    )
    deliverer = await env.start_backchannel(url, dispatcher=True) if layout == "two" else None
    try:
        await create_recipient(server.port, env.sink_url)
        await accept_all(env, server.port, plan.e2e_warmup)
        await wait_for_succeeded(url, plan.e2e_warmup, 120.0)
        await sink_reset(env)
        pids = process_tree(server.pid) + ([] if deliverer is None else [deliverer.pid])
        meter = env.meter(servers=lambda: pids, sink=lambda: [env.sink.pid])

        async def accept_and_deliver() -> tuple[LoadResult, float, int]:
            loaded = await accept_all(env, server.port, n)
            done, _, total = await wait_for_succeeded(url, plan.e2e_warmup + n, 300.0, (env, n))
            return loaded, done, total

        if profile is not None:
            await profiled(env, profile[0], deliverer or server, profile[1], accept_and_deliver)
            return 0.0, ""
        await env.wait_quiet()
        meter.start()
        began = time.time()
        loaded, done, total = await accept_and_deliver()
        meter.stop()
    finally:
        await env.processes.stop(server)
        if deliverer is not None:
            await env.processes.stop(deliverer)
    rate = n / (done - began)
    return rate, (
        f"{rate:7,.0f} deliveries/s  ({done - began:.2f} s; accepting took "
        f"{loaded.seconds:.2f} s = {loaded.rate:,.0f}/s; attempts {total - plan.e2e_warmup})  "
        f"cpu: {meter.describe()}"
    )


async def bench_e2e_concurrent(env: Env, report: Report, raw_rate: float) -> None:
    plan = env.plan
    n = plan.e2e_count
    for layout, key, label, how in (
        ("one", "2b", "concurrent, 1 process", "one process accepts and delivers"),
        (
            "two",
            "2c",
            "concurrent, 2 processes",
            "one process accepts (no dispatcher), another delivers",
        ),
        (
            "child",
            "2d",
            "concurrent, DELIVERY_PROCESSES=1",
            "one backchannel serve with BACKCHANNEL_DELIVERY_PROCESSES=1 (it accepts, "
            "its child process delivers)",
        ),
    ):
        say(f"\n[{key}] end-to-end, concurrent, {how}: {plan.runs} x {n} feedback")
        rates = []
        for run in range(plan.runs):
            rate, text = await concurrent_once(env, n, layout)
            rates.append(rate)
            report.detail(f"run {run + 1} {text}")
        if env.py_spy is not None and layout == "one":
            await concurrent_once(env, n, layout, (report, "accept + deliver, one process"))
        value = median(rates)
        aimed = layout == "one"
        report.rows.append(
            Row(
                f"{key} E2E deliveries/s, {label}",
                f"{value:,.0f} deliveries/s",
                f"{raw_rate:,.0f} POST/s raw aiohttp",
                value / raw_rate,
                ">= 0.5x" if aimed else "(info)",
                verdict_ratio(value / raw_rate, 0.5) if aimed else "",
            )
        )


def report_concurrent_bound(report: Report, echo_rate: float, raw_rate: float) -> None:
    """What 2b could reach here if Backchannel cost nothing: each feedback is one call as
    cheap as an echo call and one POST as cheap as a raw one, on the same two cores, and
    both ceilings keep both cores busy (client and server, client and sink), so the two
    costs add: 1 / (1/echo + 1/raw)."""
    bound = 1 / (1 / echo_rate + 1 / raw_rate)
    report.rows.append(
        Row(
            "2^ bound for 2b: an echo call + a raw POST each",
            f"{bound:,.0f} deliveries/s",
            f"{raw_rate:,.0f} POST/s raw aiohttp",
            bound / raw_rate,
            "(info)",
        )
    )


async def one_at_a_time(
    env: Env, port: int, count: int, gap: float
) -> list[tuple[feedback_service_pb2.SendFeedbackResponse, float, float]]:
    """``count`` SendFeedback calls, one at a time, ``gap`` seconds apart, after 20 unrecorded
    ones; each with its answer, the wall time just before the call, and the call's ms."""
    out = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            SEND_FEEDBACK,
            request_serializer=feedback_service_pb2.SendFeedbackRequest.SerializeToString,
            response_deserializer=feedback_service_pb2.SendFeedbackResponse.FromString,
        )
        for i in range(20 + count):
            if i == 20:
                await env.wait_quiet()
            request = send_request()
            await asyncio.sleep(gap)
            started = time.time()
            answer = await call(request, timeout=CALL_TIMEOUT)
            elapsed = (time.time() - started) * 1000
            if i >= 20:  # the first 20 warm up connections and caches
                out.append((answer, started, elapsed))
    return out


async def bench_latency(env: Env, report: Report) -> None:
    plan = env.plan
    say(
        f"\n[3] accept->received latency: {plan.latency_count} sends one at a time, "
        f"{plan.latency_gap * 1000:.0f} ms apart"
    )
    echo = await env.processes.start("echo-server", python_argv("echo_server.py"), "PORT")
    try:
        echo_ms = [
            ms
            for _, _, ms in await one_at_a_time(
                env, echo.port, plan.latency_count, plan.latency_gap
            )
        ]
    finally:
        await env.processes.stop(echo)
    url = await env.fresh_database("latency")
    await sink_reset(env)
    server = await env.start_backchannel(url, dispatcher=True)
    try:
        await create_recipient(server.port, env.sink_url)
        calls = await one_at_a_time(env, server.port, plan.latency_count, plan.latency_gap)
        sent = {answer.deliveries[0].id: started for answer, started, _ in calls}
        accept_ms = [ms for _, _, ms in calls]
        deadline = time.monotonic() + 30.0
        while True:
            times: dict[str, float] = await sink_get(env, "/_times")
            if all(d in times for d in sent) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        await env.processes.stop(server)
    missing = [d for d in sent if d not in times]
    if missing:
        raise RuntimeError(f"latency: {len(missing)} webhooks never reached the sink")
    latencies = [(times[d] - t) * 1000 for d, t in sent.items()]
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    a50, a99 = percentile(accept_ms, 50), percentile(accept_ms, 99)
    e50, e99 = percentile(echo_ms, 50), percentile(echo_ms, 99)
    report.detail(
        f"accept->received p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms; "
        f"SendFeedback alone p50 {a50:.1f} ms, p99 {a99:.1f} ms; "
        f"echo SendFeedback alone p50 {e50:.1f} ms, p99 {e99:.1f} ms"
    )
    report.rows.append(
        Row(
            "3  Accept->received p50 / p99",
            f"{p50:.1f} / {p99:.1f} ms",
            f"echo call {e50:.1f} / {e99:.1f} ms",
            None,
            "p50 < 20 ms",
            "meets aim" if p50 < 20 else "BELOW aim",
        )
    )
    report.rows.append(
        Row(
            "3  SendFeedback alone p50 / p99",
            f"{a50:.1f} / {a99:.1f} ms",
            f"echo call {e50:.1f} / {e99:.1f} ms",
            None,
            "(info)",
        )
    )


# ---------------------------------------------------------------------------- table


def table(rows: Sequence[Row]) -> str:
    header = ("benchmark", "figure (median)", "ceiling, same run", "ratio", "aim", "verdict")
    cells = [
        (r.name, r.value, r.ceiling, "" if r.ratio is None else f"{r.ratio:.2f}x", r.aim, r.verdict)
        for r in rows
    ]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(c) for c in cells)])


async def postgres_settings(cluster: PostgresCluster) -> str:
    connection = await asyncpg.connect(cluster.url())
    try:
        values = [
            f"{name}={await connection.fetchval(f'SHOW {name}')}"
            for name in ("fsync", "synchronous_commit", "wal_sync_method", "full_page_writes")
        ]
        version = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return f"PostgreSQL {version} ({', '.join(values)})"


# ---------------------------------------------------------------------------- main


async def run(plan: Plan, mode: str, only: set[str], keep: bool, py_spy: str | None) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="backchannel-bench-"))
    processes = Processes(workdir)
    cluster: PostgresCluster | None = None
    report = Report()
    started = time.monotonic()
    waited, gave_up = 0.0, ""
    try:
        say(f"Backchannel benchmarks ({mode}); logs in {workdir}")
        say(f"code: {describe_source()}")
        cluster = PostgresCluster()
        cluster.init()
        cluster.start()
        cluster.wait_ready()
        postmaster_pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
        pg = await postgres_settings(cluster)
        if "fsync=on" not in pg or "synchronous_commit=on" not in pg:
            raise RuntimeError(f"Postgres is not durable: {pg}")
        sink = await processes.start("sink", python_argv("sink.py"), "PORT")
        env = Env(cluster, processes, sink, plan, postmaster_pid, py_spy)
        say(
            f"machine: {os.cpu_count()} cores, {platform.python_implementation()} "
            f"{platform.python_version()}, grpcio {grpc.__version__}, aiohttp "
            f"{aiohttp.__version__}; {pg}"
        )
        say(
            "processes: client = this process (pid "
            f"{os.getpid()}); each server (backchannel serve / echo) its own process; "
            f"sink its own process (pid {sink.pid}); Postgres its own cluster "
            f"(postmaster pid {postmaster_pid}); all on loopback"
        )
        say("cpu figures: share of one core used during the measured interval")

        await bench_commit_latency(env, report)
        if "accept" in only:
            echo_rate = await bench_accepts(env, report)
        if "e2e" in only:
            raw_rate = await bench_raw_posts(env, report)
            await bench_e2e_preloaded(env, report, raw_rate)
            await bench_floor_deliveries(env, report, raw_rate)
            await bench_e2e_concurrent(env, report, raw_rate)
            if "accept" in only:
                report_concurrent_bound(report, echo_rate, raw_rate)
        if "latency" in only:
            await bench_latency(env, report)
        waited = env.quiet_waited
        if env.quiet_gave_up:
            gave_up = f" (gave up {env.quiet_gave_up} times)"
    finally:
        await processes.stop_all()
        if cluster is not None:
            cluster.destroy()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    say(
        f"\nResults ({mode}; {plan.runs} run(s) each, median; {IN_FLIGHT} in flight; "
        f"{time.monotonic() - started:.0f} s in all, {waited:.0f} s of it waiting for a quiet "
        f"machine{gave_up}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n"
    )
    say(table(report.rows))
    if report.profiles:
        say("\nWhere the server's time went (py-spy samples of extra, unmeasured runs):")
        for profile in report.profiles:
            say(profile)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, one run: a smoke test")
    parser.add_argument(
        "--only",
        default="accept,e2e,latency",
        help="comma-separated subset of accept, e2e, latency (default: all)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the server logs")
    parser.add_argument(
        "--ref",
        help="benchmark this git commit (exported with git archive) instead of the working tree",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also sample the server with py-spy in extra, unmeasured runs (needs py-spy on "
        "PATH or in BENCH_PY_SPY)",
    )
    args = parser.parse_args()
    py_spy = None
    if args.profile:
        py_spy = find_py_spy()
        if py_spy is None:
            raise SystemExit("--profile needs py-spy: pip install py-spy, or set BENCH_PY_SPY")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise SystemExit("running as root needs a 'postgres' OS user for the cluster") from None
    # SIGTERM ends the run like Ctrl-C does: through the clean-up (processes, cluster).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    plan = QUICK if args.quick else FULL
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    mode = "quick" if args.quick else "full"
    try:
        code = asyncio.run(
            asyncio.wait_for(run(plan, mode, only, args.keep_logs, py_spy), plan.deadline)
        )
    except TimeoutError:
        say(f"benchmark exceeded its {plan.deadline:.0f} s limit and was stopped")
        code = 1
    except KeyboardInterrupt:
        say("interrupted; every process it started has been stopped")
        code = 130
    raise SystemExit(code)


if __name__ == "__main__":
    main()
