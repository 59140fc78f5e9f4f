"""SSH connections kept for bursts of deliveries to the same account.

One connection (and SFTP session) per :class:`PoolKey`: same server, same user, same pinned
host keys, same credentials, so a recipient never rides on a connection another recipient's
credentials opened. At most ``max_uploads_per_connection`` uploads share one connection at a
time; the rest wait for a turn. A connection nobody has used for ``idle_timeout`` seconds is
closed. Callers that open at the same moment share one opening instead of racing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from ._session import Session
from ._settings import PoolKey

logger = logging.getLogger(__name__)

Opener = Callable[[], Awaitable[Session]]

#: Seconds aclose() waits for connections to finish closing.
CLOSE_WAIT_SECONDS = 5.0


class PooledSession:
    """A cached session and who is using it."""

    def __init__(self, key: PoolKey, session: Session, max_uploads: int) -> None:
        self.key = key
        self.session = session
        self.turns = asyncio.Semaphore(max_uploads)
        self.users = 0
        self.retired = False
        self.closed = False
        self.idle_timer: asyncio.TimerHandle | None = None

    @property
    def alive(self) -> bool:
        return not self.retired and not self.session.connection.is_closed()

    def stop_idle_timer(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None


class ConnectionPool:
    def __init__(self, *, idle_timeout: float, max_uploads_per_connection: int) -> None:
        self._idle_timeout = idle_timeout
        self._max_uploads = max_uploads_per_connection
        self._sessions: dict[PoolKey, PooledSession] = {}
        self._opening: dict[PoolKey, asyncio.Future[PooledSession]] = {}
        self._closing: dict[PooledSession, asyncio.Task[None]] = {}

    async def acquire(self, key: PoolKey, opener: Opener) -> tuple[PooledSession, bool]:
        """A session for ``key`` and a turn on it, and whether it was cached (reused).

        A cached connection that has closed is replaced here, before anyone uses it.
        """
        pooled = self._sessions.get(key)
        reused = pooled is not None and pooled.alive
        if pooled is not None and not reused:
            self.retire(pooled)
        if not reused:
            pooled = await asyncio.shield(self._open(key, opener))
        assert pooled is not None
        pooled.users += 1
        pooled.stop_idle_timer()
        try:
            await pooled.turns.acquire()
        except BaseException:
            self._leave(pooled)
            raise
        return pooled, reused

    def release(self, pooled: PooledSession, *, broken: bool = False) -> None:
        """Gives a turn back. ``broken``: the connection failed or may be mid-request; it is
        not handed out again and is closed once its last user leaves."""
        pooled.turns.release()
        if broken:
            self.retire(pooled)
        self._leave(pooled)

    def retire(self, pooled: PooledSession) -> None:
        """Stops handing ``pooled`` out; it closes when its last user leaves."""
        pooled.retired = True
        if self._sessions.get(pooled.key) is pooled:
            del self._sessions[pooled.key]
        if pooled.users == 0:
            self._close(pooled)

    async def aclose(self) -> None:
        for opening in list(self._opening.values()):
            opening.cancel()
        for pooled in list(self._sessions.values()):
            pooled.retired = True
            self._close(pooled)
        self._sessions.clear()
        closing = list(self._closing.values())
        if closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*closing, return_exceptions=True), CLOSE_WAIT_SECONDS
                )

    def _open(self, key: PoolKey, opener: Opener) -> asyncio.Future[PooledSession]:
        opening = self._opening.get(key)
        if opening is None:
            opening = asyncio.ensure_future(self._open_new(key, opener))
            self._opening[key] = opening
            opening.add_done_callback(lambda done: self._opened(key, done))
        return opening

    async def _open_new(self, key: PoolKey, opener: Opener) -> PooledSession:
        session = await opener()
        pooled = PooledSession(key, session, self._max_uploads)
        self._sessions[key] = pooled
        # Idle until someone takes a turn: closed in time even if every waiter gave up.
        self._start_idle_timer(pooled)
        logger.debug("opened an SSH connection to %s:%s", key.host, key.port)
        return pooled

    def _opened(self, key: PoolKey, done: asyncio.Future[PooledSession]) -> None:
        if self._opening.get(key) is done:
            del self._opening[key]
        if not done.cancelled():
            # Everyone who waited may have given up; the error is theirs, not the loop's.
            done.exception()

    def _leave(self, pooled: PooledSession) -> None:
        pooled.users -= 1
        if pooled.users > 0:
            return
        if pooled.retired:
            self._close(pooled)
        else:
            self._start_idle_timer(pooled)

    def _start_idle_timer(self, pooled: PooledSession) -> None:
        pooled.stop_idle_timer()
        pooled.idle_timer = asyncio.get_running_loop().call_later(
            self._idle_timeout, self._close_if_idle, pooled
        )

    def _close_if_idle(self, pooled: PooledSession) -> None:
        pooled.idle_timer = None
        if pooled.users == 0:
            self.retire(pooled)

    def _close(self, pooled: PooledSession) -> None:
        if pooled.closed:
            return
        pooled.closed = True
        pooled.stop_idle_timer()
        pooled.session.close()
        logger.debug("closing the SSH connection to %s:%s", pooled.key.host, pooled.key.port)
        closed = asyncio.ensure_future(pooled.session.wait_closed())
        self._closing[pooled] = closed
        closed.add_done_callback(lambda _: self._closing.pop(pooled, None))
