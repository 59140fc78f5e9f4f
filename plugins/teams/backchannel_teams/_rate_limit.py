"""At most N posts a second to each Workflows URL from this process.

Workflows throttles a trigger URL above about 4 requests a second. Each URL has a token bucket
holding one token that refills every ``1 / rate`` seconds: posts to one URL go out at least
that far apart, in the order they asked. URLs are keyed by a hash, so the limiter keeps no
credential.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

#: Past this many URLs, buckets that are full again are forgotten.
_PRUNE_ABOVE = 1024


class RequestSpacing:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: For each URL's hash, when its next post may go out (clock seconds).
        self._next_slot: dict[bytes, float] = {}

    def reserve(self, url: str, per_second: float, max_wait: float) -> tuple[bool, float]:
        """Takes the next slot for ``url`` if it comes within ``max_wait`` seconds.

        Returns whether it was taken and how long to wait for it (when it was not taken: how
        long until it would be free). Nothing awaits between reading and taking the slot, so
        concurrent callers in one event loop each get their own.
        """
        key = hashlib.sha256(url.encode()).digest()
        now = self._clock()
        slot = max(now, self._next_slot.get(key, now))
        wait = slot - now
        if wait > max_wait:
            return False, wait
        if len(self._next_slot) > _PRUNE_ABOVE:
            self._next_slot = {k: t for k, t in self._next_slot.items() if t > now}
        self._next_slot[key] = slot + 1.0 / per_second
        return True, wait
