"""Untrusted templates run here, never on an event loop: a pool of worker processes, each
call with a time budget (past it, the worker is killed and replaced) and every output
capped (see :mod:`backchannel.template_worker` for what runs in them).

Jinja2's sandbox limits what a template can reach, not how long it runs: a nested
``range`` loop or ``lipsum(n=20000)`` rendered on the serving process's event loop held
health checks for seconds. A process of Backchannel (``serve``, each ``deliver``) has one
pool, started on first use (pebble's ``ProcessPool``, workers spawned rather than forked
from a process running gRPC and asyncio) and stopped when the process ends.

The host uses it for a formatter or transport that declares ``renders_untrusted_templates``
(checks when a recipient is saved, renders at send time) and for
``TransportContext.render_template``.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

import pebble

from backchannel.plugin._messages import TemplateFailed
from backchannel.template_worker import start_worker

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class TemplateBudget:
    #: Worker processes (each renders one template at a time).
    workers: int = 2
    #: The longest one render (or check) may take, seconds.
    seconds: float = 2.0
    #: The most a render may write, bytes (characters for text).
    max_output_bytes: int = 1 << 20
    #: Each worker's address space.
    memory_bytes: int = 2 << 30


class TemplatePool:
    def __init__(self, budget: TemplateBudget) -> None:
        self.budget = budget
        self._pool = pebble.ProcessPool(
            max_workers=budget.workers,
            initializer=start_worker,
            initargs=(budget.memory_bytes,),
            context=multiprocessing.get_context("spawn"),
        )

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker within the budget's time; raises TemplateFailed
        when it takes longer (the worker is replaced) or its worker dies, and whatever
        ``function`` raises."""
        future = self._pool.schedule(function, args=args, timeout=self.budget.seconds)
        try:
            result: T = await asyncio.wrap_future(future)
        except FutureTimeout:
            raise TemplateFailed(
                f"took longer than {self.budget.seconds:g} s to render and was stopped"
            ) from None
        except pebble.ProcessExpired as error:
            log.warning("a template worker died (exit code %s); replaced", error.exitcode)
            raise TemplateFailed("its worker process died while rendering") from None
        return result

    def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        """:meth:`run` for a caller without an event loop (tests of plugins)."""
        future = self._pool.schedule(function, args=args, timeout=self.budget.seconds)
        try:
            return future.result()
        except FutureTimeout:
            raise TemplateFailed(
                f"took longer than {self.budget.seconds:g} s to render and was stopped"
            ) from None
        except pebble.ProcessExpired:
            raise TemplateFailed("its worker process died while rendering") from None

    def close(self) -> None:
        self._pool.stop()  # type: ignore[no-untyped-call]  # untyped in pebble
        self._pool.join(timeout=5)


_budget = TemplateBudget()
_pool: TemplatePool | None = None
_lock = threading.Lock()


def configure(budget: TemplateBudget) -> None:
    """Sets this process's budget (before its pool's first use, or it is restarted)."""
    global _budget
    with _lock:
        _budget = budget
    if _pool is not None and _pool.budget != budget:
        close()


def shared() -> TemplatePool:
    """This process's pool, started on first use."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = TemplatePool(_budget)
            atexit.register(close)
        return _pool


def close() -> None:
    """Stops this process's pool (a later use starts another)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()
