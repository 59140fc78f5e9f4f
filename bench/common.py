"""Pieces shared by the benchmark processes: the brief's example feedback, the canned
answer of the echo server, a process CPU meter and small statistics helpers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from backchannel_client.v1 import feedback_service_pb2

# The example feedback is the tests' own (tests/support), so every benchmark process can
# import it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.brief_example import brief_example_feedback

SEND_FEEDBACK = "/backchannel.v1.FeedbackService/SendFeedback"
SIGNING_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
RECIPIENT_ID = "bench-sink"


def send_request(request_id: str | None = None) -> feedback_service_pb2.SendFeedbackRequest:
    """The brief's example, one recipient named explicitly, a fresh request id."""
    return feedback_service_pb2.SendFeedbackRequest(
        request_id=request_id or f"bench-{uuid.uuid4().hex}",
        feedback=brief_example_feedback(),
        recipient_ids=[RECIPIENT_ID],
    )


def serialized_requests(count: int) -> list[bytes]:
    """``count`` requests, each with its own request id, serialized ahead of time so the
    client spends its CPU on the calls, not on building messages."""
    template = send_request("x")
    out = []
    for _ in range(count):
        template.request_id = f"bench-{uuid.uuid4().hex}"
        out.append(template.SerializeToString())
    return out


def canned_response() -> feedback_service_pb2.SendFeedbackResponse:
    """What the real server answers for :func:`send_request`, with fixed ids."""
    feedback = brief_example_feedback()
    feedback.id = "fb_00000000000000000000000000"
    feedback.request_id = "bench-00000000000000000000000000000000"
    feedback.accept_time.GetCurrentTime()
    return feedback_service_pb2.SendFeedbackResponse(
        feedback=feedback,
        deliveries=[
            feedback_service_pb2.Delivery(
                id="dlv_00000000000000000000000000",
                feedback_id=feedback.id,
                recipient_id=RECIPIENT_ID,
                state=feedback_service_pb2.DELIVERY_STATE_PENDING,
                next_attempt_time=feedback.accept_time,
                create_time=feedback.accept_time,
                update_time=feedback.accept_time,
            )
        ],
    )


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


_TICKS = os.sysconf("SC_CLK_TCK")
#: Above this share of a core used by the rest of the machine, a run is flagged.
DISTURBED_PERCENT = 30.0


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    # Fields 14 and 15 of stat (utime, stime); after the ")" they are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (e.g. a postmaster and its backends)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children", encoding="ascii") as handle:
                todo.extend(int(child) for child in handle.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def machine_seconds() -> tuple[float, float]:
    """CPU time the machine spent busy (user, nice, system, irq, softirq) and stolen by
    the hypervisor, in seconds summed over cores."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / _TICKS, steal / _TICKS


@dataclass
class CpuMeter:
    """CPU time used by named groups of processes between :meth:`start` and :meth:`stop`,
    as a share of one core (100% = one core busy the whole time). Each group is a function
    giving its pids at sampling time; ``other`` is the rest of the machine (other
    processes, and kernel time not charged to any process such as loopback softirq), and
    ``steal`` the time the hypervisor ran something else instead of this machine."""

    groups: dict[str, Callable[[], Iterable[int]]]
    _before: dict[str, float] = field(default_factory=dict)
    _began: float = 0.0
    result: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0

    def _sample(self) -> dict[str, float]:
        sample = {name: sum(_cpu_seconds(p) for p in pids()) for name, pids in self.groups.items()}
        busy, steal = machine_seconds()
        sample["other"] = busy - sum(sample.values())
        sample["steal"] = steal
        return sample

    def start(self) -> None:
        self._before = self._sample()
        self._began = time.monotonic()

    def stop(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self._began, 1e-9)
        after = self._sample()
        self.result = {
            name: 100.0 * (after[name] - self._before.get(name, 0.0)) / elapsed for name in after
        }
        self.elapsed = elapsed
        return self.result

    def micros_each(self, name: str, count: int) -> float:
        """CPU microseconds the group ``name`` used per item, for ``count`` items."""
        return self.result[name] / 100.0 * self.elapsed / count * 1e6

    def describe(self) -> str:
        # Clock ticks are 10 ms: over a short interval a share can round below zero.
        text = ", ".join(f"{name} {max(share, 0):.0f}%" for name, share in self.result.items())
        if self.result.get("other", 0) + self.result.get("steal", 0) > DISTURBED_PERCENT:
            text += "  [DISTURBED: something else ran on the machine]"
        return text


async def serve_raw_send_feedback(
    port: int, send_feedback: Callable[[bytes, object], Awaitable[bytes]], max_seconds: float
) -> None:
    """Serves ``send_feedback`` as backchannel.v1.FeedbackService/SendFeedback on a bare
    grpc.aio server, bytes in and bytes out (no decoding), on loopback; prints
    ``PORT <n>`` once listening and returns once stopped (see until_stopped)."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "backchannel.v1.FeedbackService",
                {"SendFeedback": grpc.unary_unary_rpc_method_handler(send_feedback)},
            ),
        )
    )
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"PORT {bound}", flush=True)
    await until_stopped(max_seconds)
    await server.stop(1.0)


def run_floor_server(description: str, serve: Callable[[int, str, float], Awaitable[None]]) -> None:
    """The command line of a floor server: ``--port N --database-url URL
    [--max-seconds S]``, then ``serve(port, database_url, max_seconds)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.database_url, args.max_seconds))


async def until_stopped(max_seconds: float) -> None:
    """Returns on SIGTERM or SIGINT, or after ``max_seconds``: how a benchmark process that
    run.py started waits while it serves."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max_seconds)
