"""A recipient's rate and concurrency limits hold across two replicas on one database,
and deliveries held back by them do not use up attempts."""

from __future__ import annotations

import itertools

from asyncpg import Record
from backchannel_client.v1 import recipient_pb2
from support.delivery_calls import create_recipient, receivers, send, servers, stored_deliveries
from support.polling import eventually
from support.scripted_receiver import stall_then

#: Arrivals may bunch up by this much against the claims that spaced them: the time from
#: claiming a delivery to its request reaching the receiver varies a little. Two replicas
#: each keeping 5/s on their own (10/s) still overshoot every long window by far.
ARRIVAL_JITTER = 0.1


def excess_over_bucket(arrivals: list[float], rate: float, burst: int) -> list[str]:
    """Every window [t_i, t_j] that holds more arrivals than a token bucket allows:
    burst + rate * (t_j - t_i), give or take ARRIVAL_JITTER."""
    times = sorted(arrivals)
    return [
        f"{j - i + 1} arrivals within {times[j] - times[i]:.3f} s"
        for i, j in itertools.combinations(range(len(times)), 2)
        if j - i + 1 > burst + rate * (times[j] - times[i] + ARRIVAL_JITTER)
    ]


async def all_succeeded(database_url: str, recipient_id: str, count: int) -> list[Record]:
    stored = await stored_deliveries(database_url, recipient_id)
    done = len(stored) == count and all(r["state"] == "succeeded" for r in stored)
    return stored if done else []


async def test_two_replicas_together_keep_to_the_recipients_rate_limit(database_url: str) -> None:
    async with servers(database_url, count=2) as replicas, receivers() as [sink]:
        limits = recipient_pb2.DeliveryLimits(max_per_second=5, burst=1)
        await create_recipient(replicas[0], "acme", sink.url, limits=limits)

        for index in range(20):
            await send(replicas[index % 2], ["acme"])

        await sink.wait_for(20, timeout=20.0)
        assert excess_over_bucket([a.at for a in sink.arrivals], rate=5, burst=1) == []


async def test_deliveries_held_back_by_the_rate_limit_use_no_attempts(database_url: str) -> None:
    async with servers(database_url, count=2) as replicas, receivers() as [sink]:
        limits = recipient_pb2.DeliveryLimits(max_per_second=10, burst=1)
        await create_recipient(replicas[0], "acme", sink.url, limits=limits)

        for index in range(10):
            await send(replicas[index % 2], ["acme"])

        stored = await eventually(lambda: all_succeeded(database_url, "acme", 10))
        assert [r["attempt_count"] for r in stored] == [1] * 10
        assert len({a.webhook_id for a in sink.arrivals}) == 10


async def test_two_replicas_together_keep_to_the_recipients_max_concurrency(
    database_url: str,
) -> None:
    async with servers(database_url, count=2) as replicas, receivers() as [sink]:
        sink.answer = stall_then(sink, 0.2)
        limits = recipient_pb2.DeliveryLimits(max_concurrency=1)
        await create_recipient(replicas[0], "acme", sink.url, limits=limits)

        for index in range(8):
            await send(replicas[index % 2], ["acme"])

        await sink.wait_for(8, timeout=20.0)
        assert sink.most_in_flight == 1
        assert len({a.webhook_id for a in sink.arrivals}) == 8
