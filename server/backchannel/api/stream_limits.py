"""How many StreamFeedbackEvents calls may be open at once: in all, and per caller.

Each open stream holds a place in the event hub and a share of the stream budget; without
a cap one local process opened 10,000 in a few seconds. A stream past either cap is
refused at once with RESOURCE_EXHAUSTED (reason ``TOO_MANY_STREAMS``), saying which cap
and how many are open, before it reads anything. A caller is who authentication says it
is (:func:`backchannel.api.caller.current_caller`); an anonymous one is known by its IP
address (not its port: one client host opening many connections is still one caller).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from backchannel.api.caller import current_caller
from backchannel.api.errors import ApiError


@dataclass(frozen=True)
class StreamLimits:
    total: int = 1000
    per_caller: int = 100


def caller_key(peer: str) -> str:
    """Who is calling, for counting: the authenticated caller's name, else the IP address
    of ``peer`` (grpc's ``ipv4:127.0.0.1:5555``, ``ipv6:[::1]:5555``, ``unix:/path``)."""
    caller = current_caller()
    if caller.authenticated:
        return f"caller {caller.name}"
    kind, _, address = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        host = address.rpartition(":")[0]
        return f"address {host.strip('[]')}"
    return f"address {peer}"


class OpenStreams:
    """Counts open streams against :class:`StreamLimits`."""

    def __init__(self, limits: StreamLimits | None = None) -> None:
        self.limits = limits or StreamLimits()
        self._by_caller: Counter[str] = Counter()
        self.total = 0

    def of(self, key: str) -> int:
        return self._by_caller[key]

    @contextlib.contextmanager
    def holding(self, key: str) -> Iterator[None]:
        """A place for one stream of ``key`` while the block runs; raises ApiError
        (RESOURCE_EXHAUSTED) when either cap is reached."""
        limits = self.limits
        if self.total >= limits.total:
            raise _refused(
                f"the server has {self.total} event streams open, its limit; try again "
                "later or on another replica",
                "total",
                limits.total,
            )
        if self._by_caller[key] >= limits.per_caller:
            raise _refused(
                f"this caller ({key}) has {self._by_caller[key]} event streams open, the "
                "most one caller may; close one first (one stream can follow many "
                "recipients: see EventFilter)",
                "per_caller",
                limits.per_caller,
            )
        self.total += 1
        self._by_caller[key] += 1
        try:
            yield
        finally:
            self.total -= 1
            self._by_caller[key] -= 1
            if not self._by_caller[key]:
                del self._by_caller[key]


def _refused(message: str, cap: str, limit: int) -> ApiError:
    return ApiError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "TOO_MANY_STREAMS",
        message,
        metadata={"limit": cap, "max_streams": str(limit)},
    )
