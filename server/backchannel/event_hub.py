"""Fans feedback-sent events out to stream subscribers from one reader per process.

The hub reads the event log in cursor order (see store.events: rows become readable only
once no older transaction is running, so nothing is skipped) and appends each event, once,
to a window of the most recent events shared by every subscriber. Publishing costs the
same whatever the number of subscribers: each subscriber pulls from the window at its own
pace, matching its filter as it reads, and each event is turned into the bytes of its
stream message at most once, however many subscribers send it.

A subscriber that falls out of the window (the window moved past events it had not read
yet) was either busy with its client (too slow: its stream ends and the client resumes
from its cursor) or idle when a burst larger than the window arrived (its stream catches
up from the log and joins again). The hub never waits for anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

import asyncpg

from backchannel.background import stop_task
from backchannel.event_filter import EVERY_EVENT, EventFilter
from backchannel.model import EventPosition, EventRecord
from backchannel.store import events as event_store
from backchannel.store.database import log_database_error

log = logging.getLogger(__name__)

_READ_BATCH = 1000
_HORIZON_RETRY_SECONDS = 0.01


class _Published:
    """One event in the window, with the bytes of its stream message once made."""

    __slots__ = ("event", "message")

    def __init__(self, event: EventRecord) -> None:
        self.event = event
        self.message: bytes | None = None


class HubClosing(Exception):
    """The server is stopping: streams end now, and their clients resume elsewhere or
    later from their cursor."""


class LeftBehind(Exception):
    """The window moved past events the subscriber had not read."""

    def __init__(self, while_writing: bool) -> None:
        super().__init__("left behind by the event window")
        #: It was handing a message to its client (too slow), not waiting for events.
        self.while_writing = while_writing


class Subscriber:
    """A stream's place in the hub's window."""

    def __init__(self, hub: EventHub, event_filter: EventFilter, index: int) -> None:
        self._hub = hub
        self.filter = event_filter
        #: The window index of the next event to look at.
        self._index = index
        #: The hub's position when the subscriber joined: live events come after it.
        self.joined_at = hub.position
        #: Set by the stream while it hands a message to its client.
        self.writing = False

    @property
    def left_behind(self) -> bool:
        """Whether the window has moved past events it has not read yet."""
        return self._index < self._hub.first_index

    @property
    def read_up_to(self) -> EventPosition:
        """The position of the last event looked at (matching or not), or where it
        joined: what heartbeats carry."""
        return self._hub.position_before(self._index, self.joined_at)

    async def next_event(
        self, timeout: float, serialize: Callable[[EventRecord], bytes]
    ) -> tuple[EventRecord, bytes] | None:
        """The next event the filter wants and its message bytes (made once per event
        with ``serialize``), or None when none came within ``timeout`` seconds. Raises
        LeftBehind when the window moved past unread events."""
        hub = self._hub
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if hub.closing:
                raise HubClosing
            if self.left_behind:
                raise LeftBehind(self.writing)
            while self._index < hub.end_index:
                published = hub.published(self._index)
                self._index += 1
                if self.filter.matches(published.event):
                    if published.message is None:
                        published.message = serialize(published.event)
                    return published.event, published.message
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    await hub.wait_for_more(self._index)
            except TimeoutError:
                return None


class EventHub:
    def __init__(self, pool: asyncpg.Pool, poll_interval: float, window_size: int) -> None:
        self._pool = pool
        self._poll_interval = poll_interval
        self._window: deque[_Published] = deque()
        self._window_size = window_size
        #: The window index of the first event in the window.
        self.first_index = 0
        self._subscribers = 0
        self._wake = asyncio.Event()
        self._more: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.position = EventPosition(0, 0)
        #: Set when the server stops: every stream ends at once.
        self.closing = False

    @property
    def end_index(self) -> int:
        """One past the window index of the newest event."""
        return self.first_index + len(self._window)

    async def start(self) -> None:
        self.position = await event_store.latest_readable_position(self._pool)
        self._task = asyncio.create_task(self._run(), name="event-hub")

    async def stop(self) -> None:
        await stop_task(self._task)
        if self._more is not None and not self._more.done():
            self._more.cancel()

    def wake(self, _payload: str = "") -> None:
        self._wake.set()

    def close_streams(self) -> None:
        """Ends every stream now (the server is stopping), rather than letting a server's
        grace period wait for streams that never end by themselves."""
        self.closing = True
        if self._more is not None and not self._more.done():
            self._more.set_result(None)

    def join(self, event_filter: EventFilter) -> Subscriber:
        """Registers a subscriber at the hub's current position. Synchronous on purpose:
        nothing can be published between reading ``position`` and joining."""
        self._subscribers += 1
        return Subscriber(self, event_filter, self.end_index)

    def leave(self, _subscriber: Subscriber) -> None:
        self._subscribers -= 1

    def published(self, index: int) -> _Published:
        return self._window[index - self.first_index]

    def position_before(self, index: int, floor: EventPosition) -> EventPosition:
        """The position of the event just before window index ``index``, or ``floor``."""
        if index <= self.first_index:
            return floor
        position = self._window[index - 1 - self.first_index].event.position
        return floor if position < floor else position

    async def wait_for_more(self, index: int) -> None:
        """Returns once events at or after window index ``index`` are published."""
        if index < self.end_index:
            return
        if self._more is None or self._more.done():
            self._more = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._more)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()
            try:
                await self._read_all()
            except Exception as error:
                log_database_error(log, "event hub reading events", error)
                await asyncio.sleep(self._poll_interval)

    async def _read_all(self) -> None:
        if not self._subscribers:
            # Nobody listens: keep only the position, so a stream "from now" starts there.
            latest = await event_store.latest_readable_position(self._pool)
            if not self._subscribers:
                self.position = max(self.position, latest, key=lambda p: (p.xid, p.seq))
                return
            # Someone joined meanwhile at the old position: publish from there as usual.
        delay = _HORIZON_RETRY_SECONDS
        while True:
            events = await event_store.read_events(
                self._pool, self.position, _READ_BATCH, EVERY_EVENT
            )
            if events:
                self._publish(events)
            if len(events) == _READ_BATCH:
                continue
            if delay > self._poll_interval or not await event_store.events_beyond_horizon(
                self._pool
            ):
                return
            # Committed events wait behind an older running transaction; look again soon,
            # less and less often, then leave it to the next poll.
            await asyncio.sleep(delay)
            delay *= 2

    def _publish(self, events: list[EventRecord]) -> None:
        window = self._window
        window.extend(_Published(event) for event in events)
        overflow = len(window) - self._window_size
        for _ in range(max(0, overflow)):
            window.popleft()
        self.first_index += max(0, overflow)
        self.position = events[-1].position
        if self._more is not None and not self._more.done():
            self._more.set_result(None)
