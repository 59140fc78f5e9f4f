"""Fans feedback-sent events out to stream subscribers from one reader per process.

The hub reads the event log in cursor order (see store.events: rows become readable only
once no older transaction is running, so nothing is skipped) and pushes each event into
the bounded queue of every subscriber whose filter matches. A full queue ends that
subscriber (it resumes from its last cursor); the hub never waits for anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from backchannel.background import stop_task
from backchannel.event_filter import EVERY_EVENT, EventFilter
from backchannel.model import EventPosition, EventRecord
from backchannel.store import events as event_store
from backchannel.store.database import log_database_error

log = logging.getLogger(__name__)

_READ_BATCH = 1000
_HORIZON_RETRY_SECONDS = 0.01


class Subscriber:
    def __init__(self, event_filter: EventFilter, queue_size: int, position: EventPosition):
        self.filter = event_filter
        #: Events, and positions the hub has read up to (for heartbeats).
        self.queue: asyncio.Queue[EventRecord | EventPosition] = asyncio.Queue(queue_size)
        #: The hub's position when the subscriber joined: live events come after it.
        self.joined_at = position
        #: Set when its queue was full: the hub has left it and sends it nothing more.
        self.overflowed = False
        #: Set by the stream while it hands a message to its client.
        self.writing = False
        #: Whether the stream was busy with its client when the queue overflowed (it is
        #: not keeping up) rather than waiting for events (a burst larger than the queue).
        self.overflowed_while_writing = False

    def offer(self, event: EventRecord) -> bool:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.overflowed_while_writing = self.writing
            return False
        return True

    def mark(self, position: EventPosition) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(position)


class EventHub:
    def __init__(self, pool: asyncpg.Pool, poll_interval: float) -> None:
        self._pool = pool
        self._poll_interval = poll_interval
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.position = EventPosition(0, 0)

    async def start(self) -> None:
        self.position = await event_store.latest_readable_position(self._pool)
        self._task = asyncio.create_task(self._run(), name="event-hub")

    async def stop(self) -> None:
        await stop_task(self._task)

    def wake(self, _payload: str = "") -> None:
        self._wake.set()

    def join(self, event_filter: EventFilter, queue_size: int) -> Subscriber:
        """Registers a subscriber at the hub's current position. Synchronous on purpose:
        nothing can be read between reading ``position`` and joining."""
        subscriber = Subscriber(event_filter, queue_size, self.position)
        self._subscribers.add(subscriber)
        return subscriber

    def leave(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

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
        for subscriber in list(self._subscribers):
            for event in events:
                if subscriber.filter.matches(event) and not subscriber.offer(event):
                    # The hub never waits: the stream catches up from the log, or ends.
                    self._subscribers.discard(subscriber)
                    break
            else:
                subscriber.mark(events[-1].position)
        self.position = events[-1].position
