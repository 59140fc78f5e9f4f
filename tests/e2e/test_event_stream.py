"""StreamFeedbackEvents end to end: live events, heartbeats, resuming by cursor without
gaps or duplicates (also across a transaction that commits late), retention, slow
subscribers and filters."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest
from backchannel_client.v1 import (
    event_pb2,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
    recipient_pb2,
)
from support.event_log import sent_event_ids, wait_for_event_count
from support.feedback_calls import list_all_events, send_feedback, wait_for_event
from support.in_process_server import RunningServer, serving
from support.receiver import WebhookReceiver
from support.recorded_spans import recorded_spans
from support.rpc_errors import rich_error
from support.waiting import wait_until
from support.webhook_recipients import create_ok_and_refusing_recipients, create_webhook_recipient

from backchannel.store.database import create_pool
from backchannel.store.events import prune_events

#: Longest wait for any one stream message; heartbeats come every 0.5 s in tests.
ITEM_TIMEOUT = 15.0
#: Longest wait for a whole exchange to settle (deliveries recorded, streams caught up).
SETTLE_TIMEOUT = 60.0

StreamCall = grpc.aio.UnaryStreamCall[
    feedback_service_pb2.StreamFeedbackEventsRequest,
    feedback_service_pb2.StreamFeedbackEventsResponse,
]
Event = event_pb2.FeedbackSentEvent


def position(cursor: str) -> tuple[int, int]:
    """Cursors are opaque to clients; the tests read today's encoding (``<xid>-<seq>``)
    only to check that cursors increase."""
    xid, seq = cursor.split("-")
    return int(xid), int(seq)


# --- stream helpers ----------------------------------------------------------------------


def open_stream(
    stub: feedback_service_pb2_grpc.FeedbackServiceStub,
    event_filter: feedback_service_pb2.EventFilter | None = None,
    **start: Any,
) -> StreamCall:
    call: StreamCall = stub.StreamFeedbackEvents(
        feedback_service_pb2.StreamFeedbackEventsRequest(filter=event_filter, **start)
    )
    return call


async def next_item(
    call: StreamCall, timeout: float = ITEM_TIMEOUT
) -> feedback_service_pb2.StreamFeedbackEventsResponse:
    item = await asyncio.wait_for(call.read(), timeout)
    assert item is not grpc.aio.EOF, "the stream ended"
    assert isinstance(item, feedback_service_pb2.StreamFeedbackEventsResponse)
    return item


async def subscribe_from_now(
    stub: feedback_service_pb2_grpc.FeedbackServiceStub,
    event_filter: feedback_service_pb2.EventFilter | None = None,
) -> StreamCall:
    """Opens a stream from now and waits for its first heartbeat: only then is it certain
    the server has subscribed it, so every event recorded afterwards is "after now"."""
    call = open_stream(stub, event_filter)
    first = await next_item(call)
    assert first.WhichOneof("item") == "heartbeat"
    return call


async def read_events(call: StreamCall, count: int) -> list[Event]:
    events: list[Event] = []
    async with asyncio.timeout(SETTLE_TIMEOUT):
        while len(events) < count:
            item = await next_item(call)
            if item.WhichOneof("item") == "event":
                events.append(item.event)
    return events


async def read_until_caught_up(call: StreamCall, newest_cursor: str) -> list[Event]:
    """The events a stream sends until a heartbeat says it has read up to ``newest_cursor``
    or beyond (a heartbeat carries the latest cursor the stream has read, matched or not):
    after that, no event already in the log can still come."""
    events: list[Event] = []
    async with asyncio.timeout(SETTLE_TIMEOUT):
        while True:
            item = await next_item(call)
            if item.WhichOneof("item") == "event":
                events.append(item.event)
            elif item.WhichOneof("item") == "heartbeat" and position(
                item.heartbeat.cursor
            ) >= position(newest_cursor):
                return events


async def prune_every_event(database_url: str) -> None:
    pool = await create_pool(database_url, 2)
    try:
        await prune_events(pool, datetime.now(UTC) + timedelta(seconds=1))
        assert await pool.fetchval("SELECT count(*) FROM feedback_events") == 0
    finally:
        await pool.close()


async def insert_event_without_committing(
    connection: asyncpg.Connection, template_event_id: str
) -> tuple[Any, str]:
    """Starts a transaction that writes one event (every column copied from a real one,
    under a new id) and leaves it open. The row takes the transaction's xid now, so it sorts
    before every event written by a transaction that starts later, yet becomes visible
    only at commit."""
    columns = ", ".join(
        await connection.fetchval(
            "SELECT array_agg(quote_ident(column_name::text) ORDER BY ordinal_position)"
            " FROM information_schema.columns WHERE table_name = 'feedback_events'"
            " AND column_name NOT IN ('xid', 'seq', 'id')"
        )
    )
    transaction = connection.transaction()
    await transaction.start()
    late_id = f"evt_late_{uuid.uuid4().hex}"
    status = await connection.execute(
        f"INSERT INTO feedback_events (id, {columns}) "
        f"SELECT $2, {columns} FROM feedback_events WHERE id = $1",
        template_event_id,
        late_id,
    )
    assert status == "INSERT 0 1"
    return transaction, late_id


@contextlib.asynccontextmanager
async def an_event_committing_late(running: RunningServer, database_url: str) -> AsyncIterator[str]:
    """Records one event through a real delivery to "acme", then writes a copy of it in a
    transaction that stays open until the block ends and commits then. Yields the late
    event's id."""
    first = await send_feedback(running, "late-0", ["acme"])
    template = await wait_for_event(running, first.feedback.id)
    connection = await asyncpg.connect(database_url)
    try:
        transaction, late_id = await insert_event_without_committing(connection, template.event_id)
        yield late_id
        await transaction.commit()
    finally:
        await connection.close()


# --- live events -------------------------------------------------------------------------


async def test_a_subscriber_from_now_receives_the_event_of_feedback_sent_after_it_subscribed(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    stream = await subscribe_from_now(backchannel.feedback)

    answer = await send_feedback(backchannel, "live-1", ["acme"])

    [event] = await read_events(stream, 1)
    [request] = await receiver.wait_for(1)
    [delivery] = answer.deliveries
    assert event.cursor and event.event_id
    assert event.feedback_id == answer.feedback.id
    assert event.delivery_id == delivery.id
    assert event.attempt == 1
    assert event.recipient_id == "acme"
    assert event.recipient_type == recipient_pb2.RECIPIENT_TYPE_SOURCE
    assert event.transport == "webhook"
    assert event.data_format == event_pb2.DataFormat(name="json", content_type="application/json")
    assert event.aggregation_level == event_pb2.AGGREGATION_LEVEL_INDIVIDUAL
    assert event.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED
    assert event.response_status.code == 204
    assert event.content_size == len(request.body)
    assert event.content_sha256 == hashlib.sha256(request.body).hexdigest()
    assert re.fullmatch("[0-9a-f]{32}", event.trace_id) and event.trace_id != "0" * 32
    assert re.fullmatch("[0-9a-f]{16}", event.span_id) and event.span_id != "0" * 16
    assert request.headers["traceparent"].startswith(f"00-{event.trace_id}-{event.span_id}-")
    assert event.lead_id == "LC123456789" and event.source_id == "SOURCE_ABC"
    assert event.integration_context.plugin_distribution == "backchannel-webhook"
    assert event == await wait_for_event(backchannel, answer.feedback.id)


# --- heartbeats --------------------------------------------------------------------------


async def test_a_quiet_stream_sends_heartbeats_carrying_a_cursor(
    backchannel: RunningServer,
) -> None:
    stream = open_stream(backchannel.feedback)

    items = [await next_item(stream) for _ in range(2)]

    for item in items:
        assert item.WhichOneof("item") == "heartbeat"
        assert item.heartbeat.cursor
        assert item.heartbeat.HasField("time")


async def test_resuming_after_a_heartbeat_cursor_yields_only_later_events(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    stream = await subscribe_from_now(backchannel.feedback)
    await send_feedback(backchannel, "before-heartbeat", ["acme"])
    await read_events(stream, 1)
    heartbeat = await next_item(stream)
    assert heartbeat.WhichOneof("item") == "heartbeat"
    stream.cancel()
    later = await send_feedback(backchannel, "after-heartbeat", ["acme"])
    await wait_for_event(backchannel, later.feedback.id)
    newest = (await list_all_events(backchannel))[-1]

    resumed = open_stream(backchannel.feedback, after_cursor=heartbeat.heartbeat.cursor)

    events = await read_until_caught_up(resumed, newest.cursor)
    assert [e.feedback_id for e in events] == [later.feedback.id]


# --- resuming without gaps or duplicates -------------------------------------------------


async def test_a_subscriber_resuming_after_its_last_cursor_gets_every_event_once_in_order(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str, database_url: str
) -> None:
    feedback_count, burst = 300, 30
    recipients = ["left", "right"]
    for recipient_id in recipients:
        await create_webhook_recipient(backchannel, recipient_id, receiver.url, signing_secret)
    expected_count = feedback_count * len(recipients)

    async def produce() -> None:
        for start in range(0, feedback_count, burst):
            await asyncio.gather(
                *(
                    send_feedback(backchannel, f"resume-{i}", recipients)
                    for i in range(start, start + burst)
                )
            )
            await asyncio.sleep(0.05)  # spread production over the subscriber's resumes

    producer = asyncio.create_task(produce())
    received: list[Event] = []
    chunk_sizes = random.Random(20240115)
    try:
        # Each round subscribes after the last cursor received, reads a few dozen events
        # and cancels the stream: a dozen resumes, most while events are still recorded.
        while len(received) < expected_count:
            start: dict[str, Any] = (
                {"after_cursor": received[-1].cursor} if received else {"from_beginning": True}
            )
            stream = open_stream(backchannel.feedback, **start)
            want = min(chunk_sizes.randint(20, 90), expected_count - len(received))
            try:
                received.extend(await read_events(stream, want))
            finally:
                stream.cancel()
        await producer
    finally:
        producer.cancel()

    assert [e.event_id for e in received] == await sent_event_ids(database_url)
    positions = [position(e.cursor) for e in received]
    assert all(a < b for a, b in itertools.pairwise(positions))


# --- a transaction that commits late -----------------------------------------------------


async def test_an_event_whose_transaction_commits_late_is_still_streamed_in_cursor_order(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str, database_url: str
) -> None:
    # Sequence values (and xids) are taken in one order and committed in another. Here the
    # late row's xid is older than those of the five events recorded while it is open, and
    # it becomes visible only after them. A reader that passed the five events (advancing
    # its position beyond them) would never look behind it again, so the late row would
    # be skipped. read_events.sql prevents that by reading only rows whose transaction is
    # older than every running one (`xid < pg_snapshot_xmin(...)`): while the late
    # transaction is open the hub holds at the first event. Without that condition the
    # subscriber receives the five events during the wait below, and after the commit the
    # late row never arrives: the final comparison fails. (Checked by running this test
    # against a copy of read_events.sql without the condition.)
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    async with an_event_committing_late(backchannel, database_url) as late_id:
        stream = open_stream(backchannel.feedback, from_beginning=True)
        received = await read_events(stream, 1)
        for i in range(1, 6):
            await send_feedback(backchannel, f"late-{i}", ["acme"])
        await wait_for_event_count(database_url, 6)
        # Give the stream every chance to run past the late row: until it has the five
        # newer events, or has been quiet for three heartbeats.
        heartbeats = 0
        async with asyncio.timeout(SETTLE_TIMEOUT):
            while len(received) < 6 and heartbeats < 3:
                item = await next_item(stream)
                if item.WhichOneof("item") == "event":
                    received.append(item.event)
                else:
                    heartbeats += 1
    in_log_order = await sent_event_ids(database_url)
    assert late_id in in_log_order
    newest = (await list_all_events(backchannel))[-1]

    received.extend(await read_until_caught_up(stream, newest.cursor))

    assert [e.event_id for e in received] == in_log_order


async def test_a_replay_from_the_beginning_lists_a_late_committed_event_once_in_cursor_order(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str, database_url: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    async with an_event_committing_late(backchannel, database_url) as late_id:
        for i in range(1, 6):
            await send_feedback(backchannel, f"late-{i}", ["acme"])
        await wait_for_event_count(database_url, 6)
    in_log_order = await sent_event_ids(database_url)
    newest = (await list_all_events(backchannel))[-1]

    replay = open_stream(backchannel.feedback, from_beginning=True)

    events = await read_until_caught_up(replay, newest.cursor)
    assert late_id in in_log_order
    assert [e.event_id for e in events] == in_log_order
    positions = [position(e.cursor) for e in events]
    assert positions == sorted(set(positions))


# --- retention ---------------------------------------------------------------------------


async def test_streaming_after_a_cursor_older_than_the_pruned_events_is_out_of_range(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str, database_url: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    for i in range(2):
        await send_feedback(backchannel, f"pruned-{i}", ["acme"])
    await wait_for_event_count(database_url, 2)
    older, _newer = await list_all_events(backchannel)
    await prune_every_event(database_url)

    stream = open_stream(backchannel.feedback, after_cursor=older.cursor)

    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await next_item(stream)
    assert ended.value.code() == grpc.StatusCode.OUT_OF_RANGE


async def test_a_stream_from_the_beginning_after_pruning_sends_the_retained_events(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str, database_url: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    await send_feedback(backchannel, "pruned", ["acme"])
    await wait_for_event_count(database_url, 1)
    await prune_every_event(database_url)
    kept = await send_feedback(backchannel, "kept", ["acme"])
    await wait_for_event(backchannel, kept.feedback.id)
    [newest] = await list_all_events(backchannel)

    stream = open_stream(backchannel.feedback, from_beginning=True)

    events = await read_until_caught_up(stream, newest.cursor)
    assert [e.feedback_id for e in events] == [kept.feedback.id]


# --- slow subscribers --------------------------------------------------------------------

# A gRPC client that stops reading does not stop the server at once: the transports keep
# taking messages until the HTTP/2 flow-control windows are full. With grpc-core's default
# channel settings all 200 events of this test (~700 bytes each) were absorbed that way
# (measured), so the server's generator never blocked, never stopped taking from the
# subscriber's queue, and the queue never overflowed: nothing was exercised. This client
# announces a 1 KB stream window (lookahead) and no BDP window growth; the server's writes
# then block after a few events (measured: 3), its generator stops draining the queue, and
# the hub overflows the queue about 20 events later. That is what any stalled consumer
# looks like once its windows are full, only reached sooner.
STALLED_CLIENT_OPTIONS = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]


async def test_a_subscriber_that_stops_reading_is_ended_and_resumes_from_its_last_cursor(
    database_url: str, receiver: WebhookReceiver, signing_secret: str
) -> None:
    event_count = 200
    async with serving(database_url, stream_queue_size=20) as running:
        await create_webhook_recipient(running, "acme", receiver.url, signing_secret)
        stalled_channel = grpc.aio.insecure_channel(running.address, options=STALLED_CLIENT_OPTIONS)
        try:
            stalled = await subscribe_from_now(
                feedback_service_pb2_grpc.FeedbackServiceStub(stalled_channel)
            )
            reader = await subscribe_from_now(running.feedback)
            read_by_reader: list[Event] = []
            # One event at a time, each read before the next is sent: the reading
            # subscriber never has more than one event queued.
            for i in range(event_count):
                await send_feedback(running, f"slow-{i}", ["acme"])
                read_by_reader.extend(await read_events(reader, 1))

            got_before_end: list[Event] = []
            last_cursor = ""
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                async with asyncio.timeout(SETTLE_TIMEOUT):
                    while True:
                        item = await next_item(stalled)
                        if item.WhichOneof("item") == "event":
                            got_before_end.append(item.event)
                            last_cursor = item.event.cursor
                        else:
                            last_cursor = item.heartbeat.cursor
        finally:
            await stalled_channel.close()
        assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        resumed = open_stream(running.feedback, after_cursor=last_cursor)
        rest = await read_until_caught_up(resumed, read_by_reader[-1].cursor)

    assert len(read_by_reader) == event_count
    assert [e.event_id for e in got_before_end + rest] == [e.event_id for e in read_by_reader]


async def test_a_stalled_subscriber_hanging_up_ends_its_stream_as_cancelled_with_nothing_logged(
    database_url: str,
    receiver: WebhookReceiver,
    signing_secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The server is blocked writing to the stalled stream when the client hangs up, so
    # its handler is left suspended mid-stream and closed afterwards, from another task.
    event_count = 10
    with recorded_spans() as spans:
        async with serving(database_url) as running:
            await create_webhook_recipient(running, "acme", receiver.url, signing_secret)
            stalled_channel = grpc.aio.insecure_channel(
                running.address, options=STALLED_CLIENT_OPTIONS
            )
            try:
                stalled = await subscribe_from_now(
                    feedback_service_pb2_grpc.FeedbackServiceStub(stalled_channel)
                )
                for i in range(event_count):
                    await send_feedback(running, f"stalled-{i}", ["acme"])
                await wait_for_event_count(database_url, event_count)
                stalled.cancel()
                ended = await wait_until(
                    lambda: any(
                        s.name.endswith("/StreamFeedbackEvents") for s in spans.get_finished_spans()
                    ),
                    SETTLE_TIMEOUT,
                )
            finally:
                await stalled_channel.close()

    assert ended, "the stream's server span did not end"
    [span] = [s for s in spans.get_finished_spans() if s.name.endswith("/StreamFeedbackEvents")]
    assert span.attributes is not None
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_reading_subscriber_is_not_ended_when_more_events_than_its_queue_arrive_at_once(
    database_url: str, receiver: WebhookReceiver, signing_secret: str
) -> None:
    # Thirty events are recorded while an older transaction is open, so they become
    # readable together when it commits: more at once than the subscriber's queue holds,
    # though the subscriber is reading and has nothing queued.
    queue_size, burst = 20, 30
    async with serving(database_url, stream_queue_size=queue_size) as running:
        await create_webhook_recipient(running, "acme", receiver.url, signing_secret)
        async with an_event_committing_late(running, database_url):
            stream = open_stream(running.feedback, from_beginning=True)
            received = await read_events(stream, 1)
            await asyncio.gather(
                *(send_feedback(running, f"burst-{i}", ["acme"]) for i in range(1, burst + 1))
            )
            await wait_for_event_count(database_url, burst + 1)
        newest = (await list_all_events(running))[-1]

        received.extend(await read_until_caught_up(stream, newest.cursor))

    assert len(received) == burst + 2 > queue_size
    assert [e.event_id for e in received] == await sent_event_ids(database_url)


# --- filters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterCase:
    """A stream filter and which events it keeps, both given the id of feedback B (known
    only once B is sent)."""

    make: Callable[[str], feedback_service_pb2.EventFilter]
    keeps: Callable[[Event, str], bool]


FILTER_CASES = {
    "recipient_ids": FilterCase(
        lambda _b: feedback_service_pb2.EventFilter(recipient_ids=["refusing"]),
        lambda e, _b: e.recipient_id == "refusing",
    ),
    "feedback_id": FilterCase(
        lambda b: feedback_service_pb2.EventFilter(feedback_id=b),
        lambda e, b: e.feedback_id == b,
    ),
    "lead_id": FilterCase(
        lambda _b: feedback_service_pb2.EventFilter(lead_id="LEAD-A"),
        lambda e, _b: e.lead_id == "LEAD-A",
    ),
    "source_id": FilterCase(
        lambda _b: feedback_service_pb2.EventFilter(source_id="SOURCE-B"),
        lambda e, _b: e.source_id == "SOURCE-B",
    ),
    "processing_statuses": FilterCase(
        lambda _b: feedback_service_pb2.EventFilter(
            processing_statuses=[event_pb2.PROCESSING_STATUS_FAILED]
        ),
        lambda e, _b: e.processing_status == event_pb2.PROCESSING_STATUS_FAILED,
    ),
    # The expression takes every field List takes, ANDed with the fields above.
    "expression": FilterCase(
        lambda _b: feedback_service_pb2.EventFilter(
            recipient_ids=["ok", "refusing"],
            expression='lead_id = "LEAD-A" AND processing_status = SUCCEEDED',
        ),
        lambda e, _b: (
            e.lead_id == "LEAD-A" and e.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED
        ),
    ),
}


async def _send_filter_feedback(running: RunningServer, database_url: str) -> str:
    """Three events: A to ok (SUCCEEDED) and refusing (FAILED), B to ok (SUCCEEDED).
    Returns B's feedback id."""
    await send_feedback(running, "a", ["ok", "refusing"], lead_id="LEAD-A", source_id="SOURCE-A")
    b = await send_feedback(running, "b", ["ok"], lead_id="LEAD-B", source_id="SOURCE-B")
    await wait_for_event_count(database_url, 3)
    return b.feedback.id


@pytest.mark.parametrize("name", list(FILTER_CASES))
async def test_a_stream_filter_narrows_the_replayed_events(
    name: str,
    backchannel: RunningServer,
    receiver: WebhookReceiver,
    signing_secret: str,
    database_url: str,
) -> None:
    case = FILTER_CASES[name]
    await create_ok_and_refusing_recipients(backchannel, receiver, signing_secret)
    b_feedback_id = await _send_filter_feedback(backchannel, database_url)
    everything = await list_all_events(backchannel)
    expected = [e.event_id for e in everything if case.keeps(e, b_feedback_id)]
    assert 0 < len(expected) < len(everything)

    stream = open_stream(backchannel.feedback, case.make(b_feedback_id), from_beginning=True)

    events = await read_until_caught_up(stream, everything[-1].cursor)
    assert [e.event_id for e in events] == expected


# feedback_id is left out: a feedback id is known only once the feedback is sent, too late
# to subscribe "from now" before its events.
@pytest.mark.parametrize("name", [n for n in FILTER_CASES if n != "feedback_id"])
async def test_a_stream_filter_narrows_the_live_events(
    name: str,
    backchannel: RunningServer,
    receiver: WebhookReceiver,
    signing_secret: str,
    database_url: str,
) -> None:
    case = FILTER_CASES[name]
    await create_ok_and_refusing_recipients(backchannel, receiver, signing_secret)
    stream = await subscribe_from_now(backchannel.feedback, case.make(""))

    await _send_filter_feedback(backchannel, database_url)

    everything = await list_all_events(backchannel)
    expected = [e.event_id for e in everything if case.keeps(e, "")]
    assert 0 < len(expected) < len(everything)
    events = await read_until_caught_up(stream, everything[-1].cursor)
    assert [e.event_id for e in events] == expected


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param('lead_id = "a\x00b"', id="nul"),
        pytest.param('colour = "red"', id="unknown-field"),
        pytest.param('lead_id > "a"', id="operator-the-field-does-not-take"),
        pytest.param('start_time >= "yesterday"', id="not-a-time"),
    ],
)
async def test_a_stream_filter_expression_the_service_cannot_read_is_invalid_argument(
    expression: str, backchannel: RunningServer
) -> None:
    stream = open_stream(
        backchannel.feedback,
        feedback_service_pb2.EventFilter(expression=expression),
        from_beginning=True,
    )

    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await next_item(stream)
    assert ended.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(ended.value).violated_fields == ["filter.expression"]


# --- bad cursors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("not-a-cursor", id="words"),
        pytest.param("42", id="one-number"),
        pytest.param("1-", id="missing-second-number"),
        pytest.param("-1-2", id="negative"),
        pytest.param("1-2-3", id="three-numbers"),
        pytest.param("1-2\n", id="trailing-newline"),
        pytest.param("1-99999999999999999999", id="sequence-beyond-bigint"),
        pytest.param("99999999999999999999-1", id="transaction-beyond-xid8"),
    ],
)
async def test_streaming_after_a_malformed_cursor_is_invalid_argument(
    cursor: str, backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    # An event in the log, so that a cursor before it makes the server read the log.
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    answer = await send_feedback(backchannel, "cursor", ["acme"])
    await wait_for_event(backchannel, answer.feedback.id)

    stream = open_stream(backchannel.feedback, after_cursor=cursor)

    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await next_item(stream)
    assert ended.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(ended.value).violated_fields == ["after_cursor"]
