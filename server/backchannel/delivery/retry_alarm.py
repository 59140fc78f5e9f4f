"""Wakes the dispatcher when the retries this process scheduled fall due.

Nothing announces a retry coming due (new deliveries notify; a retry only has a due time),
so without this the dispatcher finds it at its next poll: a recipient's 100 ms retry delay
would become the poll interval. Other replicas still find these retries at their polls.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Iterable
from datetime import UTC, datetime


class RetryAlarm:
    #: Due times kept at most; the latest are dropped first (the poll finds those).
    MAX_KEPT = 10_000
    #: Due times this close together are one wake-up.
    _SLACK = 0.001

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._due: list[float] = []  # loop times, a heap
        self._timer: asyncio.TimerHandle | None = None

    def add(self, due_times: Iterable[datetime]) -> None:
        """Wake at each of these (wall-clock) times."""
        loop = asyncio.get_running_loop()
        now, wall = loop.time(), datetime.now(UTC)
        for due in due_times:
            heapq.heappush(self._due, now + max(0.0, (due - wall).total_seconds()))
        if len(self._due) > self.MAX_KEPT:
            self._due = heapq.nsmallest(self.MAX_KEPT, self._due)
            heapq.heapify(self._due)
        self._arm(loop)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due.clear()

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._due:
            return
        earliest = self._due[0]
        if self._timer is not None:
            if self._timer.when() <= earliest:
                return
            self._timer.cancel()
        self._timer = loop.call_at(earliest, self._ring)

    def _ring(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time() + self._SLACK
        while self._due and self._due[0] <= now:
            heapq.heappop(self._due)
        self._wake()
        self._arm(loop)
