"""The connection pool, and the dedicated LISTEN connection used for wake-ups."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from backchannel.background import cancelling, stop_task

#: A connection of its own or one borrowed from the pool.
DbConnection = asyncpg.Connection | PoolConnectionProxy


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be used right now (connection refused or
    lost, server shutting down, starting or restarting) rather than that a statement is
    wrong. Only these are worth retrying as they are; any other error is a fault to log.

    InternalClientError comes from a pooled connection whose session the server ended
    mid-operation (asyncpg issue 784); OSError includes timeouts."""
    if isinstance(
        error,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError,
    ):
        return True
    sqlstate = getattr(error, "sqlstate", None) or ""
    return sqlstate.startswith(("08", "57P"))


def is_transient(error: BaseException) -> bool:
    """Whether the same statement may succeed if tried again as it is: the database is
    unavailable, or it refused for now (a serialization failure or deadlock, SQLSTATE class
    40; too many connections or another resource running short, class 53)."""
    if is_unavailable(error):
        return True
    sqlstate = getattr(error, "sqlstate", None) or ""
    return sqlstate.startswith(("40", "53"))


log = logging.getLogger(__name__)

#: Channel notified when deliveries become due (payload: nothing worth reading).
DELIVERIES_CHANNEL = "backchannel_deliveries"
#: Channel notified when feedback-sent events are recorded.
EVENTS_CHANNEL = "backchannel_events"
#: Channel notified when a recipient changes (payload: its id).
RECIPIENTS_CHANNEL = "backchannel_recipients"


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Pooled connections never carry session state (LISTEN has its own connection; the
    migration lock is released explicitly), so the default reset query, one more round
    trip on every release, is skipped. asyncpg still rolls back an open transaction."""


async def create_pool(dsn: str, size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min(2, size),
        max_size=size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
    )
    assert pool is not None
    return pool


class Listener:
    """Holds one connection LISTENing on a few channels, reconnecting when it drops.

    Notifications only wake things up; whoever is woken re-reads the tables, and polls
    anyway, so a notification lost while disconnected costs latency, never data.
    """

    def __init__(
        self,
        dsn: str,
        handlers: dict[str, Callable[[str], None]],
        on_reconnect: Iterable[Callable[[], None]] = (),
    ) -> None:
        self._dsn = dsn
        self._handlers = handlers
        self._on_reconnect = tuple(on_reconnect)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pg-listener")

    async def stop(self) -> None:
        self._stopping.set()
        await stop_task(self._task)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                connection.add_termination_listener(_setter(lost))
                for channel, handler in self._handlers.items():
                    await connection.add_listener(channel, _adapt(handler))
                for callback in self._on_reconnect:
                    callback()
                await lost.wait()
                log.warning("LISTEN connection lost; reconnecting")
            except Exception as error:
                if cancelling():
                    raise asyncio.CancelledError from error
                if is_unavailable(error):
                    log.warning("LISTEN connection failed (%s); retrying", type(error).__name__)
                else:
                    log.exception("LISTEN connection failed; retrying")
            finally:
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(1.0)


def _setter(event: asyncio.Event) -> Callable[[Any], None]:
    return lambda _connection: event.set()


def _adapt(handler: Callable[[str], None]) -> Callable[[Any, int, str, object], None]:
    def on_notification(_connection: Any, _pid: int, _channel: str, payload: object) -> None:
        handler(str(payload))

    return on_notification


def log_database_error(logger: logging.Logger, doing: str, error: BaseException) -> None:
    """Reports an error a background loop met while ``doing`` something (the loop then
    goes on): an unavailable database is a warning, any other error a fault, logged with
    its traceback. Raises CancelledError instead when the task is being cancelled, so a
    loop stopped mid-statement stops."""
    if cancelling():
        raise asyncio.CancelledError from error
    if is_unavailable(error):
        logger.warning("%s: database unavailable (%s)", doing, type(error).__name__)
    else:
        logger.error("%s failed", doing, exc_info=error)
