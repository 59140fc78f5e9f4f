"""How many stream messages may be written now: accepting feedback always comes first.

One process serves SendFeedback and every StreamFeedbackEvents call, and on a small
machine the streams' clients share its cores too. Unchecked, a thousand subscribers each
sent every event took the machine from accepting (measured: 7.5 accepts/s with 1,000
subscribers). The budget sets how many stream messages may be written in each short slice
(5 ms) and adjusts it after each, as TCP adjusts its window: a little more while accepting
is unhurt, half as many when it is hurt. Accepting is hurt when:

- the event loop is late (a short timer fires more than 2 ms late): every step of an
  accept waits that long behind the streams' work;
- accepts take longer than they did without the streams' load: over each 100 ms, the mean
  SendFeedback time against the least such mean of the last 30 s. At a given number of
  calls in flight a call taking 1.2x as long means 1/1.2x the calls per second
  (Little's law), so holding accept time within 1.2x holds throughput at about 0.8x or
  better.

Writers past a slice's allowance queue up and are let through, oldest first, as later
slices allow. A stream that cannot get enough turns falls behind the hub's window and is
ended as too slow; its client resumes from its cursor. With nothing being accepted, only
the loop's lag limits the streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from backchannel.background import stop_task

#: Accept times are compared over this many slices (100 ms)...
_ACCEPT_PERIOD_SLICES = 20
#: ...against the least mean of this many periods (30 s).
_BASELINE_PERIODS = 300
#: Accepts may take this much longer than their baseline (and 1 ms more, for noise).
_ACCEPT_SLACK = 1.1


class StreamBudget:
    def __init__(
        self,
        slice_seconds: float = 0.005,
        target_lag_seconds: float = 0.002,
        initial: int = 64,
        ceiling: int = 100_000,
    ) -> None:
        self._slice = slice_seconds
        self._target_lag = target_lag_seconds
        self._ceiling = ceiling
        #: Messages allowed per slice: the lesser of what the loop's lag and what accepting
        #: allow.
        self.allowance = initial
        self._lag_allowance = initial
        self._accept_allowance = ceiling
        self._left = initial
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._accept_seconds = 0.0
        self._accepts = 0
        self._means: deque[float] = deque(maxlen=_BASELINE_PERIODS)
        self._slices = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample(), name="stream-budget")

    async def stop(self) -> None:
        await stop_task(self._task)
        for waiter in self._waiting:
            waiter.cancel()
        self._waiting.clear()

    def accepted(self, seconds: float) -> None:
        """Tells how long one SendFeedback call took."""
        self._accept_seconds += seconds
        self._accepts += 1

    async def turn(self) -> None:
        """Returns when one more stream message may be written."""
        if self._left > 0 and not self._waiting:
            self._left -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):
                self._waiting.remove(waiter)
            raise

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self._slice)
            self.end_slice(loop.time() - started - self._slice)

    def end_slice(self, lag_seconds: float) -> None:
        """Sets the next slice's allowance, given how late the loop was in this one, and
        lets waiting writers through."""
        self._slices += 1
        late = lag_seconds > self._target_lag
        self._lag_allowance = self._adjusted(self._lag_allowance, late)
        if self._slices % _ACCEPT_PERIOD_SLICES == 0:
            slowed = self._accepting_slowed()
            if slowed is None:
                self._accept_allowance = self._ceiling
            else:
                # Per period, not per slice: the effect of a change on accepts shows
                # only over a period.
                self._accept_allowance = self._adjusted(
                    min(self._accept_allowance, self._lag_allowance), slowed
                )
        self.allowance = min(self._lag_allowance, self._accept_allowance)
        self._left = self.allowance
        while self._waiting and self._left > 0:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._left -= 1

    def _adjusted(self, allowance: int, hurt: bool) -> int:
        if hurt:
            return max(1, allowance // 2)
        return min(self._ceiling, allowance + max(1, allowance // 8))

    def _accepting_slowed(self) -> bool | None:
        """Whether accepts over the last period took longer than their baseline allows;
        None when nothing was accepted."""
        if not self._accepts:
            return None
        mean = self._accept_seconds / self._accepts
        self._accept_seconds, self._accepts = 0.0, 0
        self._means.append(mean)
        return mean > min(self._means) * _ACCEPT_SLACK + 0.001
