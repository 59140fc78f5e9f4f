"""conversions.timestamp gives exactly what Timestamp.FromDatetime gives, faster."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from backchannel.api.conversions import timestamp

FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def from_datetime(value: datetime) -> Timestamp:
    expected = Timestamp()
    expected.FromDatetime(value)
    return expected


def test_every_representable_time_converts_as_from_datetime_does() -> None:
    chooser = random.Random(20261201)
    span = (LAST - FIRST) // timedelta(microseconds=1)
    values = [FIRST, LAST, datetime(1970, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 1)]
    for _ in range(2000):
        moment = FIRST + timedelta(microseconds=chooser.randrange(span))
        offset = timezone(timedelta(minutes=chooser.randrange(-720, 721, 15)))
        values += [moment, moment.astimezone(offset), moment.replace(tzinfo=None)]

    for value in values:
        assert timestamp(value) == from_datetime(value), value
