"""What the log says about deliveries, once their records are committed: each failed
attempt, and each change of a recipient's health (failing, recovered, circuit opened or
closed, delivery exhausted, disabled), at most one line per recipient and kind per
interval (:class:`~backchannel.log_throttle.LogThrottle`), so a recipient failing
thousands of times a minute writes one line a minute, with the count held back.

Lines carry ``recipient_id`` and ``delivery_id`` (fields of JSON lines; a failure also
the attempt's ``trace_id`` and ``span_id``) and say nothing a
recorded event does not: excerpts and messages were redacted by the host before they
were recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from backchannel.log_throttle import LogThrottle
from backchannel.model import EventCategory, EventRecord, ProcessingStatus

log = logging.getLogger("backchannel.delivery")

#: Seconds between two lines about the same recipient and kind of thing.
LOG_INTERVAL_SECONDS = 60.0

#: Operator events an operator should look at (others, recovering, are INFO).
_WARNINGS = frozenset(
    (
        EventCategory.RECIPIENT_FAILING,
        EventCategory.CIRCUIT_OPENED,
        EventCategory.DELIVERY_EXHAUSTED,
        EventCategory.RECIPIENT_DISABLED,
    )
)


class AttemptLog:
    def __init__(
        self, interval: float = LOG_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._throttle = LogThrottle(interval, clock)
        self._interval = interval

    def recorded(self, events: Sequence[EventRecord]) -> None:
        """Logs what ``events`` (just committed) say went wrong or changed."""
        for event in events:
            if event.category == EventCategory.TRANSMISSION:
                if event.processing_status != ProcessingStatus.SUCCEEDED:
                    self._failed(event)
            else:
                self._changed(event)

    def _failed(self, event: EventRecord) -> None:
        held_back = self._throttle.admit((event.recipient_id, EventCategory.TRANSMISSION))
        if held_back is None:
            return
        log.warning(
            "delivery %s to %s failed (attempt %d, %s%s): %s%s",
            event.delivery_id,
            event.recipient_id,
            event.attempt,
            event.processing_status,
            f", code {event.response_code}" if event.response_code else "",
            event.response_excerpt or "no answer",
            self._held_back(held_back, "failed attempts"),
            extra={
                "recipient_id": event.recipient_id,
                "delivery_id": event.delivery_id,
                # The attempt's span: logged after its record committed, outside it.
                "trace_id": event.trace_id,
                "span_id": event.span_id,
            },
        )

    def _changed(self, event: EventRecord) -> None:
        held_back = self._throttle.admit((event.recipient_id, event.category))
        if held_back is None:
            return
        log.log(
            logging.WARNING if event.category in _WARNINGS else logging.INFO,
            "recipient %s: %s: %s%s",
            event.recipient_id,
            str(event.category).replace("_", " "),
            event.message,
            self._held_back(held_back, "more like it"),
            extra={"recipient_id": event.recipient_id, "delivery_id": event.delivery_id},
        )

    def _held_back(self, count: int, what: str) -> str:
        if not count:
            return ""
        return f" ({count} {what} in the last {self._interval:g} s not logged)"
