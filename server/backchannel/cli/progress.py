"""Progress of a long send: a bar redrawn in place on a terminal, with the rate and the
time left; plain counts otherwise (a log or a pipe gets no redrawn lines and nothing that
changes with the machine's speed)."""

from __future__ import annotations

import threading
import time
from typing import TextIO

_BAR_WIDTH = 30
_REDRAW_EVERY = 0.1


class Progress:
    def __init__(self, total: int, stream: TextIO, label: str = "sending") -> None:
        self._total = total
        self._stream = stream
        self._label = label
        self._tty = stream.isatty()
        self._done = 0
        self._failed = 0
        self._lock = threading.Lock()
        self._drawn_at = 0.0
        self._started_at = time.monotonic()
        self._plain_step = max(1, total // 10)

    def advance(self, ok: bool) -> None:
        """Counts one finished item; safe from any thread."""
        with self._lock:
            self._done += 1
            self._failed += 0 if ok else 1
            if self._tty:
                now = time.monotonic()
                if now - self._drawn_at >= _REDRAW_EVERY or self._done == self._total:
                    self._drawn_at = now
                    self._draw()
            elif self._done % self._plain_step == 0 or self._done == self._total:
                print(f"{self._label}: {self._counts()}", file=self._stream, flush=True)

    def finish(self) -> None:
        if self._tty:
            with self._lock:
                self._draw()
                self._stream.write("\n")
                self._stream.flush()

    def _counts(self) -> str:
        failed = f", {self._failed} failed" if self._failed else ""
        return f"{self._done}/{self._total} done{failed}"

    def _draw(self) -> None:
        filled = _BAR_WIDTH * self._done // max(1, self._total)
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        # Padded: a shorter line must cover the longer one it redraws.
        line = f"{self._label} [{bar}] {self._counts()}  {self._speed()}"
        self._stream.write(f"\r{line:<78}")
        self._stream.flush()

    def _speed(self) -> str:
        """``120.5/s, 0:42 left``: the average rate so far and the time left at that rate."""
        elapsed = time.monotonic() - self._started_at
        if not self._done or elapsed <= 0:
            return "-/s, time left unknown"
        rate = self._done / elapsed
        left = round((self._total - self._done) / rate)
        return f"{rate:.1f}/s, {left // 60}:{left % 60:02d} left"
