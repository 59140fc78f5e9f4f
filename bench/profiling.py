"""Optional sampling profile of a server process with py-spy (``run.py --profile``).

py-spy is not a dependency of the project: install it anywhere (``pip install py-spy``,
or ``pip install --target /tmp/pyspy py-spy``) and put it on PATH or name it in
``BENCH_PY_SPY``; ``BENCH_PY_SPY_NATIVE=1`` adds C frames (grpc's Cython core, protobuf).
Profiled runs are extra runs, never the measured ones.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import shutil
import signal
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
_BUCKETS = (
    ("backchannel_webhook", "webhook plugin"),
    ("backchannel/v1", "generated stubs"),
    ("backchannel", "backchannel"),
    ("opentelemetry", "opentelemetry"),
    ("grpc", "grpc"),
    ("asyncpg", "asyncpg"),
    ("aiohttp", "aiohttp"),
    ("yarl", "aiohttp"),
    ("multidict", "aiohttp"),
    ("google/protobuf", "protobuf"),
    ("asyncio", "asyncio"),
)


def find_py_spy() -> str | None:
    return os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy")


def _frame_name(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if match is None:
        return frame, ""
    file = match["file"]
    for marker in ("site-packages/", "server/", "plugins/webhook/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return match["function"], file


def _bucket(file: str) -> str:
    for marker, name in _BUCKETS:
        if marker in file:
            return name
    return "other"


def summarize(raw: str, top: int = 15) -> str:
    """Where the samples of py-spy's raw (collapsed) output went: by package of the leaf
    frame, the busiest leaf frames, and the heaviest frames including their callees."""
    leaf: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    buckets: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(f) for f in stack.split(";")]
        function, file = frames[-1]
        leaf[f"{function} ({file})"] += count
        buckets[_bucket(file)] += count
        for name in {f"{fn} ({fl})" for fn, fl in frames}:
            inclusive[name] += count
    if not total:
        return "    (no samples)"

    def pct(count: int) -> str:
        return f"{100 * count / total:5.1f}%"

    lines = [f"    {total} samples of the event-loop thread while busy"]
    lines.append(
        "    by package of the running frame: "
        + ", ".join(f"{name} {pct(count).strip()}" for name, count in buckets.most_common())
    )
    lines.append("    busiest frames (self):")
    lines += [f"      {pct(c)}  {name}" for name, c in leaf.most_common(top)]
    lines.append("    heaviest frames (with callees; event-loop plumbing left out):")
    heavy = [(n, c) for n, c in inclusive.most_common() if c < 0.9 * total]
    lines += [f"      {pct(c)}  {name}" for name, c in heavy[:top]]
    return "\n".join(lines)


class Profile:
    """py-spy recording one process until :meth:`stop`."""

    def __init__(self, exe: str, pid: int, output: Path) -> None:
        self.exe, self.pid, self.output = exe, pid, output
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        # py-spy cannot unwind C frames without pausing the process.
        mode = ["--native"] if os.environ.get("BENCH_PY_SPY_NATIVE") else ["--nonblocking"]
        log = self.output.with_suffix(".log").open("wb")
        try:
            self._process = await asyncio.create_subprocess_exec(
                self.exe,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--duration",
                "120",
                "--output",
                str(self.output),
                *mode,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        await asyncio.sleep(0.5)  # let it attach

    async def stop(self) -> str:
        process = self._process
        if process is None:
            return "    (not started)"
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 20.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if not self.output.exists():
            said = self.output.with_suffix(".log").read_text(errors="replace").strip()
            return f"    py-spy wrote nothing (exit {process.returncode}): {said[-300:]}"
        return summarize(self.output.read_text(encoding="utf-8", errors="replace"))
