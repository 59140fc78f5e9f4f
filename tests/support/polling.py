"""Bounded waiting for something to become true."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float = 10.0, interval: float = 0.05
) -> T:
    """The first truthy value ``check`` returns, polling until ``timeout`` seconds pass;
    then AssertionError with the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout:g} s; last value: {value!r}")
        await asyncio.sleep(interval)
