"""What an event stream remembers to resume without the caller noticing: the last cursor
(events and heartbeats advance it) and how long it has been failing to reconnect."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import grpc

from backchannel_client._errors import error_from_status
from backchannel_client._generated.backchannel.v1 import event_pb2, feedback_service_pb2
from backchannel_client._options import RetrySettings, is_resumable

log = logging.getLogger("backchannel_client")

#: What a stream yields: feedback-sent events, and operator events when asked for.
StreamEvent = event_pb2.FeedbackSentEvent | event_pb2.OperatorEvent


class StreamPosition:
    """Where a stream stands, and when to give up reconnecting."""

    def __init__(
        self,
        event_filter: feedback_service_pb2.EventFilter | None,
        after_cursor: str | None,
        from_beginning: bool,
        include_operator_events: bool,
        retry: RetrySettings,
    ) -> None:
        if after_cursor and from_beginning:
            raise ValueError("give after_cursor or from_beginning, not both")
        self._filter = feedback_service_pb2.EventFilter()
        if event_filter is not None:
            if event_filter.include_operator_events and not include_operator_events:
                raise ValueError("ask for operator events with include_operator_events=True")
            self._filter.CopyFrom(event_filter)
        self._filter.include_operator_events = include_operator_events
        self.cursor = after_cursor or ""
        self._from_beginning = from_beginning
        self._retry = retry
        self._backoffs = retry.backoffs()
        self._failing_since: float | None = None

    def request(self) -> feedback_service_pb2.StreamFeedbackEventsRequest:
        """The request that (re)opens the stream right after the last cursor seen. Before
        any cursor, a stream from the beginning starts there again; a stream "from now"
        starts from the new now (events recorded while it was away before its first
        event or heartbeat are not replayed)."""
        request = feedback_service_pb2.StreamFeedbackEventsRequest(filter=self._filter)
        if self.cursor:
            request.after_cursor = self.cursor
        elif self._from_beginning:
            request.from_beginning = True
        return request

    def accept(self, item: feedback_service_pb2.StreamFeedbackEventsResponse) -> StreamEvent | None:
        """Advances past ``item``; returns the event to hand to the caller, if any."""
        self._failing_since = None
        self._backoffs = self._retry.backoffs()
        which = item.WhichOneof("item")
        if which == "event":
            self.cursor = item.event.cursor or self.cursor
            return item.event
        if which == "operator_event":
            self.cursor = item.operator_event.cursor or self.cursor
            return item.operator_event
        if which == "heartbeat":
            self.cursor = item.heartbeat.cursor or self.cursor
        return None

    def pause_before_reconnect(
        self,
        code: grpc.StatusCode,
        details: str | None,
        trailing_metadata: Iterable[Any] | None,
    ) -> float:
        """How long to wait before reopening the stream that ended with ``code``; raises
        the error when it cannot be resumed, or has failed for too long."""
        error = error_from_status(code, details, trailing_metadata)
        if not is_resumable(code, details):
            raise error
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        limit = self._retry.stream_reconnect_timeout
        if limit is not None and now - self._failing_since > limit:
            raise error
        pause = next(self._backoffs)
        log.info(
            "event stream ended (%s: %s); resuming after cursor %r in %.2f s",
            code.name,
            details,
            self.cursor,
            pause,
        )
        return pause

    def ended_cleanly(self) -> float:
        """The pause before reopening a stream the server ended without an error (it only
        does so while shutting down)."""
        return self.pause_before_reconnect(grpc.StatusCode.UNAVAILABLE, "stream ended", None)
