"""Postgres stopped and started again under load, the server left running: while the
database is gone SendFeedback answers UNAVAILABLE (never a false OK); afterwards the
server serves again by itself, the client's retries with the same request ids store each
feedback exactly once, everything acknowledged is delivered, and an event stream that
resumes by cursor sees every event once.

The scenario runs once for the module, on a Postgres cluster of its own (the shared one
is never restarted); each test checks one promise of it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import grpc
import pytest
from backchannel_client.v1 import event_pb2, feedback_service_pb2, feedback_service_pb2_grpc
from support.brief_example import brief_example_feedback
from support.feedback_load import (
    Request,
    SendOutcomes,
    resend_until_acknowledged,
    send_once,
)
from support.outbox_state import (
    DeliveryRow,
    deliveries,
    stored_request_ids,
    wait_for_succeeded,
)
from support.postgres_cluster import PostgresCluster
from support.recording_sink import RecordingSink
from support.server_process import ServerLauncher, ServerProcess
from support.waiting import wait_until
from support.webhook_recipients import create_webhook_recipient

SENDERS = 4
#: A client that got an error waits this long before its next call.
BACKOFF_AFTER_ERROR = 0.05
#: Seconds of load before the first outage.
LOAD_BEFORE = 1.5
#: Postgres is stopped this many times, each time for this many seconds; after each
#: return the load goes on until this many new calls were acknowledged. Connections cut
#: in the middle of a statement are what break a server, and each restart is another
#: draw of where they are cut.
OUTAGES = 3
OUTAGE_SECONDS = 2.0
ACKNOWLEDGED_BETWEEN = 150


@dataclass(frozen=True)
class Call:
    request_id: str
    #: Event-loop time when the call started and when its answer came.
    started: float
    ended: float
    code: grpc.StatusCode


@dataclass
class EventFollower:
    """Follows StreamFeedbackEvents like a client that must not miss anything: when the
    stream ends, it opens a new one after the last cursor it received."""

    stub: feedback_service_pb2_grpc.FeedbackServiceStub
    cursor: str = ""
    #: delivery id -> how many SUCCEEDED events for it the streams yielded.
    succeeded: Counter[str] = field(default_factory=Counter)
    #: event id -> how many times the streams yielded it.
    event_ids: Counter[str] = field(default_factory=Counter)
    #: How each stream that ended failed.
    endings: list[grpc.StatusCode] = field(default_factory=list)

    async def follow(self) -> None:
        while True:
            if self.cursor:
                request = feedback_service_pb2.StreamFeedbackEventsRequest(after_cursor=self.cursor)
            else:
                request = feedback_service_pb2.StreamFeedbackEventsRequest(from_beginning=True)
            try:
                async for item in self.stub.StreamFeedbackEvents(request):
                    if item.HasField("event"):
                        self.cursor = item.event.cursor
                        self.event_ids[item.event.event_id] += 1
                        if item.event.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED:
                            self.succeeded[item.event.delivery_id] += 1
                    elif item.HasField("heartbeat"):
                        self.cursor = item.heartbeat.cursor
            except grpc.aio.AioRpcError as error:
                self.endings.append(error.code())
            await asyncio.sleep(0.2)


@dataclass
class OutageScenario:
    calls: list[Call]
    #: Event-loop times (stopped, started) of each outage: from pg_ctl stop returning to
    #: just before pg_ctl start was called.
    outages: list[tuple[float, float]]
    outcomes: SendOutcomes
    all_acknowledged: bool
    drained: bool
    #: Whether the stream yielded a success event for every delivery recorded as
    #: succeeded.
    stream_caught_up: bool
    recorded_succeeded: set[str]
    #: delivery id -> SUCCEEDED events the log holds for it (more than one when an
    #: attempt's record outlived its lease: delivery is at least once).
    recorded_success_events: Counter[str]
    final: dict[str, DeliveryRow]
    stored: Counter[str]
    received: set[str]
    follower: EventFollower
    server: ServerProcess
    #: The one server was never restarted and kept running throughout.
    ran_throughout: bool
    servers_started: int


async def _run_outage(
    cluster: PostgresCluster, sink: RecordingSink, servers: ServerLauncher, secret: str
) -> OutageScenario:
    database_url = cluster.url()
    loop = asyncio.get_running_loop()
    server = await servers.start()
    await create_webhook_recipient(server, "acme", sink.url(), secret)
    follower = EventFollower(server.feedback)
    following = asyncio.create_task(follower.follow())
    feedback = brief_example_feedback()
    requests: list[Request] = []
    calls: list[Call] = []
    outcomes = SendOutcomes()
    numbers = itertools.count()
    stop_sending = asyncio.Event()

    async def sender() -> None:
        while not stop_sending.is_set():
            request = Request(
                request_id=f"outage-{next(numbers)}", feedback=feedback, recipient_ids=["acme"]
            )
            requests.append(request)
            started = loop.time()
            answer = await send_once(server.feedback, request)
            code = answer if isinstance(answer, grpc.StatusCode) else grpc.StatusCode.OK
            calls.append(Call(request.request_id, started, loop.time(), code))
            outcomes.record(request.request_id, answer)
            if code != grpc.StatusCode.OK:
                await asyncio.sleep(BACKOFF_AFTER_ERROR)

    senders = [asyncio.create_task(sender()) for _ in range(SENDERS)]
    outages: list[tuple[float, float]] = []
    await asyncio.sleep(LOAD_BEFORE)
    for _ in range(OUTAGES):
        await asyncio.to_thread(cluster.stop, "fast")
        down_at = loop.time()
        await asyncio.sleep(OUTAGE_SECONDS)
        up_at = loop.time()
        outages.append((down_at, up_at))
        await asyncio.to_thread(cluster.start)
        serving_again = await wait_until(
            lambda up_at=up_at: (
                sum(c.code == grpc.StatusCode.OK and c.started > up_at for c in calls)
                >= ACKNOWLEDGED_BETWEEN
            ),
            timeout=15,
        )
        if not serving_again:
            break  # the tests below say what went wrong; another outage would not
    stop_sending.set()
    await asyncio.gather(*senders)

    all_acknowledged = await resend_until_acknowledged(
        server.feedback, requests, outcomes, timeout=30
    )
    drained = await wait_for_succeeded(database_url, len(outcomes.acknowledged), timeout=30)
    final = await deliveries(database_url)
    recorded = {i for i, row in final.items() if row.state == "succeeded"}
    stream_caught_up = await wait_until(lambda: set(follower.succeeded) >= recorded, timeout=15)
    following.cancel()
    ran_throughout = server.running
    # A clean exit makes the process report background tasks that died with an
    # exception ("Task exception was never retrieved"): evidence for a failing test.
    await server.terminate(timeout=15)
    return OutageScenario(
        calls=calls,
        outages=outages,
        outcomes=outcomes,
        all_acknowledged=all_acknowledged,
        drained=drained,
        stream_caught_up=stream_caught_up,
        recorded_succeeded=recorded,
        recorded_success_events=await success_events(database_url),
        final=final,
        stored=await stored_request_ids(database_url),
        received=sink.received(),
        follower=follower,
        server=server,
        ran_throughout=ran_throughout,
        servers_started=len(servers.started),
    )


@pytest.fixture(scope="module")
async def outage(signing_secret: str) -> AsyncIterator[OutageScenario]:
    cluster = PostgresCluster()
    try:
        await asyncio.to_thread(cluster.init)
        await asyncio.to_thread(cluster.start)
        async with (
            RecordingSink() as sink,
            ServerLauncher(cluster.url(), lease_seconds=10) as servers,
        ):
            yield await _run_outage(cluster, sink, servers, signing_secret)
    finally:
        await asyncio.to_thread(cluster.destroy)


async def test_send_feedback_answers_unavailable_while_postgres_is_down(
    outage: OutageScenario,
) -> None:
    during = [
        c
        for c in outage.calls
        if any(down <= c.started and c.ended <= up for down, up in outage.outages)
    ]
    assert len(during) >= len(outage.outages) * SENDERS, "too few calls fell in the outages"
    answers = Counter(c.code.name for c in during)
    assert answers == {"UNAVAILABLE": len(during)}


async def test_every_call_failed_by_a_postgres_restart_fails_unavailable_so_clients_retry(
    outage: OutageScenario,
) -> None:
    failures = Counter(c.code.name for c in outage.calls if c.code != grpc.StatusCode.OK)
    late = [
        (round(c.started, 2), round(c.ended, 2), c.code.name)
        for c in outage.calls
        if c.code not in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE)
    ]
    assert failures.keys() == {"UNAVAILABLE"}, (
        f"{failures} {late} outages {outage.outages}\n{outage.server.log()}"
    )


async def test_every_request_id_is_stored_exactly_once_after_retries_with_the_same_id(
    outage: OutageScenario,
) -> None:
    assert outage.all_acknowledged, f"still failing: {Counter(outage.outcomes.failed.values())}"
    sent = {c.request_id for c in outage.calls}
    assert set(outage.stored) == sent
    assert set(outage.stored.values()) == {1}
    retried = {c.request_id for c in outage.calls if c.code != grpc.StatusCode.OK}
    assert retried, "no call failed: the outage was not under load"


async def test_the_server_delivers_every_acknowledged_feedback_without_being_restarted(
    outage: OutageScenario,
) -> None:
    assert outage.ran_throughout and outage.servers_started == 1
    states = Counter(row.state for row in outage.final.values())
    assert outage.drained, f"deliveries: {states}\n{outage.server.log()}"
    acknowledged = outage.outcomes.delivery_ids()
    assert acknowledged <= {i for i, row in outage.final.items() if row.state == "succeeded"}
    assert acknowledged <= outage.received


async def test_an_event_stream_resumed_by_cursor_yields_every_recorded_success_once(
    outage: OutageScenario,
) -> None:
    missing = outage.recorded_succeeded - set(outage.follower.succeeded)
    assert outage.stream_caught_up, (
        f"{len(missing)} of {len(outage.recorded_succeeded)} recorded successes never "
        f"streamed; streams ended with {outage.follower.endings}\n{outage.server.log()}"
    )
    # Each event once (a repeat would be the stream's fault)...
    repeated = {i: n for i, n in outage.follower.event_ids.items() if n > 1}
    assert repeated == {}, outage.server.log()
    # ...and every success the log holds for a delivery, no more.
    assert outage.follower.succeeded == outage.recorded_success_events, outage.server.log()


async def success_events(database_url: str) -> Counter[str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT delivery_id FROM feedback_events WHERE processing_status = 'succeeded'"
        )
    finally:
        await connection.close()
    return Counter(row["delivery_id"] for row in rows)
