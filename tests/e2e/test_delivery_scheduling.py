"""Which due delivery goes next: first attempts keep their own lane through a storm of
retries, and with ordered delivery feedback about one lead arrives in accept order
without holding back other leads."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from backchannel_client.v1 import recipient_pb2
from support.delivery_calls import create_recipient, duration, receivers, send, servers
from support.in_process_server import RunningServer
from support.scripted_receiver import Answer, Arrival, ScriptedReceiver, first_then, status


def first_fails_then_stalls(receiver: ScriptedReceiver, stalled: list[Arrival]) -> Answer:
    """Answers a delivery's first request 500 at once and holds every retry (listed in
    ``stalled`` while held) until the receiver stops."""

    async def answer(arrival: Arrival, _request: web.Request) -> web.StreamResponse:
        if receiver.count(arrival.webhook_id) == 1:
            return web.Response(status=500)
        stalled.append(arrival)
        try:
            await receiver.stall(60.0)
        finally:
            stalled.remove(arrival)
        return web.Response(status=500)

    return answer


async def test_a_first_attempt_is_sent_while_a_storm_of_retries_holds_the_retry_lane(
    database_url: str,
) -> None:
    settings: dict[str, Any] = {
        "delivery_concurrency": 4,
        "retry_share": 0.5,
        "retry_schedule": (0.0,) * 50,  # every retry due at once
        "circuit_failure_threshold": 1000,
    }
    async with servers(database_url, **settings) as [server], receivers(2) as [storm, healthy]:
        held: list[Arrival] = []
        storm.answer = first_fails_then_stalls(storm, held)
        await create_recipient(server, "storm", storm.url, timeout_seconds=60.0)
        await create_recipient(server, "healthy", healthy.url)
        for _ in range(10):
            await send(server, ["storm"])
        await storm.wait_for(10 + 2)  # every first attempt, then the retry lane is full

        await send(server, ["healthy"])

        await healthy.wait_for(1, timeout=5.0)
        # Retries are still being made, and held (they never end) never more than their
        # share of the concurrency.
        assert len(held) == 2


def campaign_of(arrival: Arrival) -> str:
    campaign: str = arrival.document["attribution"]["campaign"]
    return campaign


def fail_first_twice(receiver: ScriptedReceiver) -> Answer:
    """Answers 500 to the first two requests carrying the feedback marked "first"."""

    async def answer(arrival: Arrival, _request: web.Request) -> web.StreamResponse:
        campaign = campaign_of(arrival)
        marked = sum(1 for a in receiver.arrivals if campaign_of(a) == campaign)
        return web.Response(status=500 if campaign == "first" and marked <= 2 else 204)

    return answer


async def ordered_recipient_receiving(server: RunningServer, sink: ScriptedReceiver) -> list[str]:
    """Sends three feedback about lead A (the first failing twice), then one about lead
    B; returns the campaign marks in the order the sink received them."""
    sink.answer = fail_first_twice(sink)
    policy = recipient_pb2.RetryPolicy(retry_delays=[duration(0.5)], max_attempts=5)
    await create_recipient(server, "acme", sink.url, retry_policy=policy, ordered_delivery=True)
    for mark in ("first", "second", "third"):
        await send(server, ["acme"], lead_id="LEAD-A", campaign=mark)
    await send(server, ["acme"], lead_id="LEAD-B", campaign="other-lead")
    await sink.wait_for(6, timeout=10.0)
    return [campaign_of(a) for a in sink.arrivals]


async def test_ordered_feedback_about_one_lead_arrives_in_accept_order_despite_retries(
    database_url: str,
) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        received = await ordered_recipient_receiving(server, sink)

        lead_a = [mark for mark in received if mark != "other-lead"]
        assert lead_a == ["first", "first", "first", "second", "third"]


async def test_ordered_feedback_about_another_lead_is_not_held_back_by_a_stuck_one(
    database_url: str,
) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        received = await ordered_recipient_receiving(server, sink)

        assert received.index("other-lead") < received.index("second")


def first_four_held(receiver: ScriptedReceiver, releases: list[asyncio.Event]) -> Answer:
    """Holds each of the first four requests until its own event in ``releases`` is set;
    answers later ones at once."""

    async def answer(arrival: Arrival, _request: web.Request) -> web.StreamResponse:
        index = receiver.arrivals.index(arrival)
        if index < len(releases):
            await releases[index].wait()
        return web.Response(status=204)

    return answer


async def test_freed_slots_are_refilled_before_every_attempt_in_flight_has_ended(
    database_url: str,
) -> None:
    # Four slots, claim batches of 100, a poll once a minute, nothing accepted meanwhile:
    # only an attempt that ends can start more.
    settings: dict[str, Any] = {
        "delivery_concurrency": 4,
        "claim_batch_size": 100,
        "poll_interval_seconds": 60.0,
    }
    async with servers(database_url, **settings) as [server], receivers() as [sink]:
        releases = [asyncio.Event() for _ in range(4)]
        sink.answer = first_four_held(sink, releases)
        await create_recipient(server, "slow", sink.url, timeout_seconds=60.0)
        for _ in range(8):
            await send(server, ["slow"])
        await sink.wait_for(4)

        # Two of the four end: their slots are claimed for again while the other two are
        # still held (a dispatcher that waited for all four would send nothing more).
        releases[0].set()
        releases[1].set()
        await sink.wait_for(6, timeout=10.0)
        held = sink.in_flight

        for release in releases:
            release.set()

    assert held >= 2


async def test_a_sub_second_retry_delay_is_kept_with_the_default_poll_interval(
    database_url: str,
) -> None:
    """Nothing announces a retry coming due; the process that scheduled it wakes for it,
    rather than leaving it to its next poll (1 s by default)."""
    async with servers(database_url, poll_interval_seconds=1.0) as [server], receivers() as [sink]:
        sink.answer = first_then(status(500), status(204))
        policy = recipient_pb2.RetryPolicy(retry_delays=[duration(0.1)], max_attempts=2)
        await create_recipient(server, "acme", sink.url, retry_policy=policy)
        await send(server, ["acme"])

        await sink.wait_for(2, timeout=5.0)

        first, retry = sink.arrivals
        # 0.1 s +-20% jitter, plus recording and claiming; a poll would take up to 1 s.
        assert retry.at - first.at < 0.5
