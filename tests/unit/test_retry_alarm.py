"""RetryAlarm wakes the dispatcher at each due time it was given, once per time, earliest
first, however they were added."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from backchannel.delivery.retry_alarm import RetryAlarm


async def test_the_alarm_rings_at_each_due_time_in_order() -> None:
    loop = asyncio.get_running_loop()
    rings: list[float] = []
    alarm = RetryAlarm(lambda: rings.append(loop.time()))
    start, wall = loop.time(), datetime.now(UTC)
    alarm.add([wall + timedelta(seconds=0.15), wall + timedelta(seconds=0.05)])
    alarm.add([wall + timedelta(seconds=0.10)])
    await asyncio.sleep(0.3)
    alarm.close()

    assert len(rings) == 3
    offsets = [round(t - start, 2) for t in rings]
    assert offsets == sorted(offsets)
    assert offsets[0] >= 0.04 and offsets[-1] < 0.25


async def test_times_already_past_ring_at_once_and_a_closed_alarm_stays_quiet() -> None:
    rings: list[str] = []
    alarm = RetryAlarm(lambda: rings.append("ring"))
    alarm.add([datetime.now(UTC) - timedelta(seconds=5)])
    await asyncio.sleep(0.01)
    assert rings == ["ring"]
    alarm.add([datetime.now(UTC) + timedelta(seconds=0.05)])
    alarm.close()
    await asyncio.sleep(0.1)
    assert rings == ["ring"]
