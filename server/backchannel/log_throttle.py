"""At most one log line per key per interval: what would flood a log when a recipient
fails thousands of times a minute is one line a minute, saying how many were held back."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable


class LogThrottle:
    """Admits the first line for a key, then none for ``interval`` seconds, counting those
    it holds back; the next line admitted is told how many that was."""

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._max_keys = max_keys
        #: Key -> (when its last line was admitted, lines held back since).
        self._keys: dict[Hashable, tuple[float, int]] = {}

    def admit(self, key: Hashable) -> int | None:
        """None when a line for ``key`` is to be held back; else the number of its lines
        held back since the last one admitted."""
        now = self._clock()
        last = self._keys.get(key)
        if last is not None and now - last[0] < self._interval:
            self._keys[key] = (last[0], last[1] + 1)
            return None
        if last is None and len(self._keys) >= self._max_keys:
            self._forget_quiet_keys(now)
        self._keys[key] = (now, 0)
        return last[1] if last is not None else 0

    def _forget_quiet_keys(self, now: float) -> None:
        # A key whose interval is over is admitted again whether it is kept or not; only
        # its held-back count (told with its next line) is lost.
        quiet = [key for key, (at, _) in self._keys.items() if now - at >= self._interval]
        for key in quiet or list(self._keys)[: self._max_keys // 2]:
            del self._keys[key]
