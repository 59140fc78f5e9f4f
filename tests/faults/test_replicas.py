"""Several server processes on one database: they share the work without ever claiming
one delivery twice, and when one dies mid-delivery (kill -9, never restarted) the others
take over what it held once its lease expires.

Each scenario runs once for the module; each test checks one promise of it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from backchannel_client.v1 import event_pb2, feedback_service_pb2
from support.brief_example import brief_example_feedback
from support.feedback_load import SendOutcomes, numbered_requests, send_all
from support.outbox_state import (
    AttemptRow,
    DeliveryRow,
    attempts,
    deliveries,
    wait_for_succeeded,
)
from support.postgres_cluster import PostgresCluster
from support.recording_sink import RecordingSink
from support.scratch_database import scratch_database
from support.server_process import ServerLauncher, ServerProcess
from support.waiting import wait_until
from support.webhook_recipients import create_webhook_recipient

SHARED_FEEDBACK_COUNT = 2000

#: The dying-replica scenario: each replica sends this many at once to a recipient that
#: holds every request this long, so once twice that many requests have arrived, each
#: replica holds that many leases. Leases are short so they expire soon after the kill.
HELD_PER_REPLICA = 10
HOLD_SECONDS = 1.0
DYING_LEASE_SECONDS = 3
DYING_FEEDBACK_COUNT = 40


async def _list_events(server: ServerProcess) -> list[event_pb2.FeedbackSentEvent]:
    events: list[event_pb2.FeedbackSentEvent] = []
    token = ""
    while True:
        page = await server.feedback.ListFeedbackEvents(
            feedback_service_pb2.ListFeedbackEventsRequest(page_size=1000, page_token=token)
        )
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


@dataclass
class SharedWork:
    replicas: tuple[ServerProcess, ServerProcess]
    outcomes: SendOutcomes
    drained: bool
    final: dict[str, DeliveryRow]
    events: list[event_pb2.FeedbackSentEvent]
    sink: RecordingSink


@pytest.fixture(scope="module")
async def shared(postgres: PostgresCluster, signing_secret: str) -> AsyncIterator[SharedWork]:
    async with (
        scratch_database(postgres) as database_url,
        RecordingSink() as sink,
        ServerLauncher(database_url) as servers,
    ):
        first = await servers.start()
        second = await servers.start()
        await create_webhook_recipient(first, "acme", sink.url(), signing_secret)
        requests = numbered_requests(
            "shared", SHARED_FEEDBACK_COUNT, brief_example_feedback(), ["acme"]
        )
        outcomes = SendOutcomes()
        # Each replica accepts half, as behind a load balancer.
        await asyncio.gather(
            send_all(first.feedback, requests[0::2], 16, outcomes),
            send_all(second.feedback, requests[1::2], 16, outcomes),
        )
        assert not outcomes.failed, f"sends failed: {Counter(outcomes.failed.values())}"
        drained = await wait_for_succeeded(database_url, SHARED_FEEDBACK_COUNT, timeout=60)
        yield SharedWork(
            replicas=(first, second),
            outcomes=outcomes,
            drained=drained,
            final=await deliveries(database_url),
            events=await _list_events(first),
            sink=sink,
        )


async def test_two_replicas_send_every_webhook_id_exactly_once(shared: SharedWork) -> None:
    # How many accepted deliveries arrived 0, 1, 2... times: all of them exactly once, so
    # that nothing delivered (all 0) fails as surely as a delivery sent twice.
    times_sent = Counter(shared.sink.counts[i] for i in shared.outcomes.delivery_ids())
    assert times_sent == {1: SHARED_FEEDBACK_COUNT}
    assert shared.sink.duplicates() == {}


async def test_two_replicas_on_one_database_deliver_every_feedback(shared: SharedWork) -> None:
    states = Counter(row.state for row in shared.final.values())
    assert shared.drained, f"deliveries: {states}"
    assert states == {"succeeded": SHARED_FEEDBACK_COUNT}
    assert shared.sink.received() == shared.outcomes.delivery_ids()


async def test_both_replicas_deliver_a_share_of_the_work(shared: SharedWork) -> None:
    by_worker = Counter(e.integration_context.worker_id for e in shared.events)
    assert set(by_worker) == {r.worker_id for r in shared.replicas}, by_worker
    assert sum(by_worker.values()) == SHARED_FEEDBACK_COUNT


@dataclass
class DyingReplica:
    killed: ServerProcess
    survivor: ServerProcess
    #: Deliveries the killed replica held when it died: sent by it (they reached the
    #: recipient before the kill) with no first attempt ever recorded.
    held_by_killed: set[str]
    drained: bool
    final: dict[str, DeliveryRow]
    attempts: list[AttemptRow]
    sink: RecordingSink


@pytest.fixture(scope="module")
async def dying(postgres: PostgresCluster, signing_secret: str) -> AsyncIterator[DyingReplica]:
    async with (
        scratch_database(postgres) as database_url,
        RecordingSink(delay=HOLD_SECONDS) as sink,
        ServerLauncher(
            database_url,
            lease_seconds=DYING_LEASE_SECONDS,
            delivery_concurrency=HELD_PER_REPLICA,
        ) as servers,
    ):
        doomed = await servers.start()
        survivor = await servers.start()
        await create_webhook_recipient(survivor, "acme", sink.url(), signing_secret)
        requests = numbered_requests(
            "dying", DYING_FEEDBACK_COUNT, brief_example_feedback(), ["acme"]
        )
        outcomes = SendOutcomes()
        await send_all(survivor.feedback, requests, 8, outcomes)
        assert not outcomes.failed, f"sends failed: {Counter(outcomes.failed.values())}"
        both_busy = await wait_until(lambda: len(sink.arrivals) >= 2 * HELD_PER_REPLICA, timeout=30)
        await doomed.kill()
        arrived_before_kill = sink.received()
        assert both_busy, f"the replicas never held {2 * HELD_PER_REPLICA} deliveries at once"
        drained = await wait_for_succeeded(database_url, DYING_FEEDBACK_COUNT, timeout=60)
        recorded = await attempts(database_url)
        first_attempts = {a.delivery_id for a in recorded if a.attempt == 1}
        held_by_killed = arrived_before_kill - first_attempts
        assert held_by_killed, "the killed replica held no delivery when it died"
        yield DyingReplica(
            killed=doomed,
            survivor=survivor,
            held_by_killed=held_by_killed,
            drained=drained,
            final=await deliveries(database_url),
            attempts=recorded,
            sink=sink,
        )


async def test_deliveries_leased_by_a_killed_replica_are_sent_again_by_the_survivor(
    dying: DyingReplica,
) -> None:
    assert not dying.killed.running
    retaken = {
        a.delivery_id
        for a in dying.attempts
        if a.worker_id == dying.survivor.worker_id
        and a.attempt >= 2
        and a.processing_status == "succeeded"
    }
    assert dying.held_by_killed <= retaken, dying.survivor.log()
    assert all(dying.sink.counts[i] >= 2 for i in dying.held_by_killed)


async def test_no_delivery_is_lost_when_a_replica_dies_and_is_never_restarted(
    dying: DyingReplica,
) -> None:
    states = Counter(row.state for row in dying.final.values())
    assert dying.drained, f"deliveries: {states}\n{dying.survivor.log()}"
    assert states == {"succeeded": DYING_FEEDBACK_COUNT}
    assert dying.sink.received() == set(dying.final)
