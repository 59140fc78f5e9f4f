"""One StreamFeedbackEvents call: replay from the log, follow the hub, heartbeat.

The stream replays from the log until it has caught up with the event hub, then joins
it and pulls from the hub's window of recent events. When a burst larger than the window
arrives while the stream is idle (waiting for events), it catches up from the log and
joins again. When the window moves past it while it is busy handing a message to its
client, the client is not keeping up: the stream ends with RESOURCE_EXHAUSTED, and the
client resumes from its last cursor.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import grpc
from backchannel_client.v1 import feedback_service_pb2

from backchannel.api.conversions import stream_item, timestamp
from backchannel.api.cursors import encode_cursor
from backchannel.api.errors import ApiError
from backchannel.api.stream_budget import StreamBudget
from backchannel.event_filter import EventFilter
from backchannel.event_hub import EventHub, HubClosing, LeftBehind, Subscriber
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
    #: Shared by every stream of the process: accepting comes first.
    budget: StreamBudget


class EventStream:
    def __init__(self, pool: asyncpg.Pool, hub: EventHub, settings: StreamSettings) -> None:
        self._pool = pool
        self._hub = hub
        self._settings = settings

    async def run(
        self, event_filter: EventFilter, start: EventPosition
    ) -> AsyncGenerator[bytes, None]:
        """The stream's messages, serialized: each event's bytes are made once by the hub
        and shared by every stream that sends it."""
        progress = _Progress(start, start)
        stream_opened()
        try:
            while True:
                if self._hub.closing:
                    raise _stopping(progress)
                async for event in self._replay(event_filter, progress):
                    await self._settings.budget.turn()
                    if self._hub.closing:
                        raise _stopping(progress)
                    yield stream_item(event).SerializeToString()
                subscriber = self._hub.join(event_filter)
                progress.read = _later(progress.read, subscriber.joined_at)
                try:
                    async for message in self._follow(subscriber, progress):
                        yield message
                finally:
                    self._hub.leave(subscriber)
                # _follow ends only when a burst larger than the window arrived while the
                # stream was idle: catch up from the log and join again.
        finally:
            stream_closed()

    async def _replay(
        self, event_filter: EventFilter, progress: _Progress
    ) -> AsyncIterator[EventRecord]:
        # Joining the hub is synchronous, so nothing can be published between the last
        # replayed event and joining.
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

    async def _follow(self, subscriber: Subscriber, progress: _Progress) -> AsyncIterator[bytes]:
        heartbeat = self._settings.heartbeat_seconds
        while True:
            try:
                found = await subscriber.next_event(heartbeat, _serialized_item)
            except HubClosing:
                raise _stopping(progress) from None
            except LeftBehind as behind:
                if behind.while_writing:
                    raise _too_slow(progress) from None
                return
            progress.read = _later(progress.read, subscriber.read_up_to)
            if found is None:
                subscriber.writing = True
                yield Response(
                    heartbeat=feedback_service_pb2.Heartbeat(
                        cursor=encode_cursor(progress.read), time=timestamp(datetime.now(UTC))
                    )
                ).SerializeToString()
                subscriber.writing = False
                if subscriber.left_behind:
                    raise _too_slow(progress)
                continue
            event, message = found
            if event.position <= progress.sent:
                continue
            subscriber.writing = True
            await self._settings.budget.turn()
            yield message
            subscriber.writing = False
            progress.sent = event.position
            if subscriber.left_behind:
                # The window moved past it while it waited for its turn and its client.
                raise _too_slow(progress)


def _serialized_item(event: EventRecord) -> bytes:
    return stream_item(event).SerializeToString()


def _stopping(progress: _Progress) -> ApiError:
    return ApiError(
        grpc.StatusCode.UNAVAILABLE,
        "SERVER_STOPPING",
        "the server is stopping; resume after the last cursor received",
        metadata={"resume_after_cursor": encode_cursor(progress.sent)},
    )


def _too_slow(progress: _Progress) -> ApiError:
    return ApiError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "SUBSCRIBER_TOO_SLOW",
        "the stream cannot keep up with the events; resume after the last cursor received",
        metadata={"resume_after_cursor": encode_cursor(progress.sent)},
    )
