"""One StreamFeedbackEvents call: replay from the log, follow the hub, heartbeat.

The stream replays from the log until it has caught up with the event hub, then joins
it. When a burst larger than its queue arrives while the stream is idle (waiting for
events), it leaves the hub, catches up from the log and rejoins. When its queue overflows
while the stream is busy handing a message to its client, the client is not keeping up:
the stream ends with RESOURCE_EXHAUSTED, and the client resumes from its last cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import grpc
from backchannel_client.v1 import feedback_service_pb2

from backchannel.api.conversions import stream_item, timestamp
from backchannel.api.cursors import encode_cursor
from backchannel.api.errors import ApiError
from backchannel.event_filter import EventFilter
from backchannel.event_hub import EventHub, Subscriber
from backchannel.metrics import stream_closed, stream_opened
from backchannel.model import EventPosition, EventRecord
from backchannel.store import events as event_store

_REPLAY_BATCH = 500
Response = feedback_service_pb2.StreamFeedbackEventsResponse


def _later(a: EventPosition, b: EventPosition) -> EventPosition:
    return b if a < b else a


@dataclass
class _Progress:
    #: The last event sent (or skipped as not matching the filter during replay).
    sent: EventPosition
    #: How far the stream has read, matched or not: what heartbeats carry.
    read: EventPosition


@dataclass(frozen=True)
class StreamSettings:
    heartbeat_seconds: float
    queue_size: int


class EventStream:
    def __init__(self, pool: asyncpg.Pool, hub: EventHub, settings: StreamSettings) -> None:
        self._pool = pool
        self._hub = hub
        self._settings = settings

    async def run(
        self, event_filter: EventFilter, start: EventPosition
    ) -> AsyncGenerator[Response, None]:
        progress = _Progress(start, start)
        stream_opened()
        try:
            while True:
                async for event in self._replay(event_filter, progress):
                    yield stream_item(event)
                subscriber = self._hub.join(event_filter, self._settings.queue_size)
                progress.read = _later(progress.read, subscriber.joined_at)
                try:
                    async for response in self._follow(subscriber, progress):
                        yield response
                finally:
                    self._hub.leave(subscriber)
                # _follow ends only when a burst overflowed the queue of an idle stream.
        finally:
            stream_closed()

    async def _replay(
        self, event_filter: EventFilter, progress: _Progress
    ) -> AsyncIterator[EventRecord]:
        # Joining the hub is synchronous, so nothing can be read between the last replayed
        # event and joining.
        while progress.sent < self._hub.position:
            target = self._hub.position
            while True:
                batch = await event_store.read_events(
                    self._pool, progress.sent, _REPLAY_BATCH, event_filter, up_to=target
                )
                for event in batch:
                    yield event
                    progress.sent = progress.read = event.position
                if len(batch) < _REPLAY_BATCH:
                    break
            progress.sent = _later(progress.sent, target)
            progress.read = _later(progress.read, target)

    async def _follow(self, subscriber: Subscriber, progress: _Progress) -> AsyncIterator[Response]:
        while True:
            if subscriber.overflowed:
                if subscriber.overflowed_while_writing:
                    raise _too_slow(progress)
                return  # a burst, not a stall: catch up from the log and rejoin
            try:
                item = await asyncio.wait_for(
                    subscriber.queue.get(), self._settings.heartbeat_seconds
                )
            except TimeoutError:
                subscriber.writing = True
                yield Response(
                    heartbeat=feedback_service_pb2.Heartbeat(
                        cursor=encode_cursor(progress.read), time=timestamp(datetime.now(UTC))
                    )
                )
                subscriber.writing = False
                continue
            if isinstance(item, EventPosition):
                progress.read = _later(progress.read, item)
                continue
            if item.position <= progress.sent:
                continue
            subscriber.writing = True
            yield stream_item(item)
            subscriber.writing = False
            progress.sent = item.position
            progress.read = _later(progress.read, item.position)


def _too_slow(progress: _Progress) -> ApiError:
    return ApiError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "SUBSCRIBER_TOO_SLOW",
        "the stream cannot keep up with the events; resume after the last cursor received",
        metadata={"resume_after_cursor": encode_cursor(progress.sent)},
    )
