"""Stopping background tasks for sure.

A task cancelled in the middle of a database call may see the cancellation turned into a
driver error that its own error handling then swallows; ``stop_task`` keeps asking until
the task has ended, and never swallows the cancellation of the task that waits.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def stop_task(
    task: asyncio.Task[object] | asyncio.Task[None] | None, timeout: float = 5.0
) -> None:
    if task is None or task.done():
        return
    deadline = asyncio.get_running_loop().time() + timeout
    while not task.done():
        task.cancel()
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            log.warning("background task %s did not stop", task.get_name())
            return
        await asyncio.wait({task}, timeout=min(0.5, remaining))


def cancelling() -> bool:
    """Whether the current task has been asked to stop (for loops that catch errors)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
