"""Waiting for a condition with a bound: every wait in the tests ends by itself."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

#: A bound for anything asynchronous to settle in an end-to-end test (the Python client's).
SETTLE_SECONDS = 30.0


async def wait_until(
    condition: Callable[[], bool] | Callable[[], Awaitable[bool]],
    timeout: float,
    interval: float = 0.05,
) -> bool:
    """Checks ``condition`` every ``interval`` seconds until it holds (True) or
    ``timeout`` seconds have passed (False)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(interval)
