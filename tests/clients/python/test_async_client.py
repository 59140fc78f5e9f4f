"""AsyncClient against a real Backchannel server: sending with request ids, retries that
reuse them, errors with their field violations, paging, and a stream that survives a
server restart."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from backchannel_client import (
    AlreadyExistsError,
    AsyncClient,
    EventFilter,
    FeedbackSentEvent,
    InvalidArgumentError,
    NotFoundError,
    RetrySettings,
    SendResult,
    UnavailableError,
    build_feedback,
    feedback_from_dict,
)
from backchannel_client.v1 import event_pb2
from support.brief_example import BRIEF_EXAMPLE
from support.database_rows import stored_feedback
from support.event_log import sent_event_ids, wait_for_event_count
from support.in_process_server import RunningServer, serving, settings_for_test, start_server
from support.postgres_cluster import free_port
from support.receiver import WebhookReceiver
from support.waiting import SETTLE_SECONDS, wait_until
from support.webhook_recipients import webhook_recipient

FAST_RETRY = RetrySettings(initial_backoff=0.05, max_backoff=0.5, max_attempts=30, total_timeout=30)


async def test_send_feedback_generates_a_request_id_and_stores_the_feedback(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    async with AsyncClient(backchannel.address) as client:
        await client.create_recipient(webhook_recipient("acme", receiver.url, signing_secret))

        answer = await client.send_feedback(BRIEF_EXAMPLE, recipient_ids=["acme"])

        assert uuid.UUID(answer.feedback.request_id).version == 4
        assert [d.recipient_id for d in answer.deliveries] == ["acme"]
        stored = await client.get_feedback(answer.feedback.id)
        assert stored.feedback.request_id == answer.feedback.request_id
        assert stored.feedback.outcome.value.amount == "1250.00"


async def test_repeating_a_request_id_returns_the_first_answer(
    backchannel: RunningServer, database_url: str
) -> None:
    async with AsyncClient(backchannel.address) as client:
        first = await client.send_feedback(BRIEF_EXAMPLE, request_id="repeat-me")
        again = await client.send_feedback(BRIEF_EXAMPLE, request_id="repeat-me")

    assert again == first
    assert await stored_feedback(database_url) == [(first.feedback.id, "repeat-me")]


async def test_a_retry_after_unavailable_reuses_the_request_id_and_stores_one_feedback(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on the port yet: the first attempts fail with UNAVAILABLE. The server
    # starts while the client is backing off, and a later attempt gets through.
    port = free_port()
    caplog.set_level(logging.INFO, logger="backchannel_client")
    async with AsyncClient(f"127.0.0.1:{port}", retry=FAST_RETRY, timeout=2.0) as client:
        sending = asyncio.create_task(client.send_feedback(BRIEF_EXAMPLE))
        assert await wait_until(lambda: "UNAVAILABLE" in caplog.text, SETTLE_SECONDS)
        async with serving(database_url, listen=f"127.0.0.1:{port}"):
            answer = await sending

    request_id = answer.feedback.request_id
    retries = [r.getMessage() for r in caplog.records if "UNAVAILABLE" in r.getMessage()]
    assert retries and all(request_id in message for message in retries)
    assert await stored_feedback(database_url) == [(answer.feedback.id, request_id)]


async def test_a_retry_after_a_deadline_reuses_the_request_id_so_the_slow_first_attempt_counts(
    backchannel: RunningServer, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The feedback table is locked, so the first attempt reaches the server and waits in its
    # INSERT past the client's deadline. The client retries with the same request id; once
    # the lock goes, the first attempt commits and the retry gets its answer: one feedback.
    caplog.set_level(logging.INFO, logger="backchannel_client")
    locker = await asyncpg.connect(database_url)
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE feedback IN EXCLUSIVE MODE")
        async with AsyncClient(backchannel.address, retry=FAST_RETRY, timeout=0.5) as client:
            sending = asyncio.create_task(client.send_feedback(BRIEF_EXAMPLE))
            assert await wait_until(lambda: "DEADLINE_EXCEEDED" in caplog.text, SETTLE_SECONDS)
            await lock.rollback()
            answer = await sending
    finally:
        await locker.close()

    assert await stored_feedback(database_url) == [(answer.feedback.id, answer.feedback.request_id)]
    assert answer.feedback.request_id in caplog.text


async def test_retries_stop_after_max_attempts_with_an_unavailable_error() -> None:
    retry = RetrySettings(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
    async with AsyncClient(f"127.0.0.1:{free_port()}", retry=retry, timeout=1.0) as client:
        with pytest.raises(UnavailableError) as caught:
            await client.send_feedback(BRIEF_EXAMPLE)

    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


async def test_an_invalid_feedback_raises_invalid_argument_with_every_field_violation(
    backchannel: RunningServer,
) -> None:
    feedback = build_feedback(kind="conversion", lead_id="")
    feedback.ClearField("kind")

    async with AsyncClient(backchannel.address) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            await client.send_feedback(feedback, request_id="bad-1")

    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "INVALID_ARGUMENT"
    assert dict(error.field_violations) == {
        "feedback.kind": "is required",
        "feedback.lead.lead_id": "is required",
    }
    assert [v.field for v in error.field_violations] == ["feedback.kind", "feedback.lead.lead_id"]


async def test_an_unknown_recipient_raises_not_found_with_its_reason_and_metadata(
    backchannel: RunningServer,
) -> None:
    async with AsyncClient(backchannel.address) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.send_feedback(BRIEF_EXAMPLE, recipient_ids=["nobody"])

    assert caught.value.reason == "RECIPIENT_NOT_FOUND"
    assert caught.value.metadata == {"recipient_ids": "nobody"}
    assert caught.value.field_violations == []


async def test_send_many_answers_in_order_with_a_request_id_each_and_returns_errors(
    backchannel: RunningServer, database_url: str
) -> None:
    leads = [f"LEAD-{i}" for i in range(6)]
    feedbacks = [build_feedback(kind="quality", lead_id=lead, overall_score=50) for lead in leads]
    feedbacks[3].quality.overall_score = 101  # out of range: this one fails alone
    finished: list[SendResult] = []

    async with AsyncClient(backchannel.address) as client:
        results = await client.send_many(feedbacks, concurrency=3, on_result=finished.append)

    assert [r.index for r in results] == list(range(6))
    assert len({r.request_id for r in results}) == 6
    assert [r.ok for r in results] == [True, True, True, False, True, True]
    failed = results[3].error
    assert isinstance(failed, InvalidArgumentError)
    assert [v.field for v in failed.field_violations] == ["feedback.quality.overall_score"]
    ok = [r for r in results if r.ok]
    assert [r.response.feedback.lead.lead_id for r in ok if r.response] == [
        lead for i, lead in enumerate(leads) if i != 3
    ]
    assert sorted(finished, key=lambda r: r.index) == results
    assert sorted(await stored_feedback(database_url)) == sorted(
        (r.feedback_id, r.request_id) for r in ok
    )


async def test_reusing_a_request_id_for_other_content_raises_already_exists(
    backchannel: RunningServer,
) -> None:
    async with AsyncClient(backchannel.address) as client:
        await client.send_feedback(BRIEF_EXAMPLE, request_id="once")
        other = feedback_from_dict({**BRIEF_EXAMPLE, "lead": {"leadId": "OTHER"}})
        with pytest.raises(AlreadyExistsError) as caught:
            await client.send_feedback(other, request_id="once")

    assert caught.value.reason == "REQUEST_ID_REUSED"
    assert [v.field for v in caught.value.field_violations] == ["request_id"]


async def test_list_events_iterates_every_page_oldest_first(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str, database_url: str
) -> None:
    async with AsyncClient(backchannel.address) as client:
        await client.create_recipient(webhook_recipient("acme", receiver.url, signing_secret))
        for i in range(5):
            await client.send_feedback(BRIEF_EXAMPLE, ["acme"], request_id=f"page-{i}")
        in_log_order = await wait_for_event_count(database_url, 5)

        listed = [e async for e in client.list_events(page_size=2)]
        filtered = [e async for e in client.list_events('recipient_id = "acme"', page_size=3)]
        none = [e async for e in client.list_events('recipient_id = "nobody"')]

    assert [e.event_id for e in listed] == in_log_order
    assert [e.event_id for e in filtered] == in_log_order
    assert none == []


async def test_follow_events_survives_a_server_restart_and_yields_every_event_once(
    database_url: str,
    receiver: WebhookReceiver,
    signing_secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="backchannel_client")
    first = await start_server(settings_for_test(database_url))
    address = first.address
    second: RunningServer | None = None
    received: list[FeedbackSentEvent] = []
    # The follower waits at least 3.2 s before reconnecting, so the events recorded after
    # the restart are all in the log before it is back: it must replay them from its cursor.
    follower = AsyncClient(address, retry=RetrySettings(initial_backoff=4.0, max_backoff=4.0))
    sender = AsyncClient(address, retry=FAST_RETRY)
    try:
        await sender.create_recipient(webhook_recipient("acme", receiver.url, signing_secret))
        stream = follower.follow_events(from_beginning=True)

        async def follow() -> None:
            async for event in stream:
                received.append(event)

        following = asyncio.create_task(follow())
        for i in range(3):
            await sender.send_feedback(BRIEF_EXAMPLE, ["acme"], request_id=f"before-{i}")
        assert await wait_until(lambda: len(received) == 3, SETTLE_SECONDS)

        await first.close()
        second = await start_server(settings_for_test(database_url, listen=address))
        for i in range(3):
            await sender.send_feedback(BRIEF_EXAMPLE, ["acme"], request_id=f"after-{i}")
        in_log_order = await wait_for_event_count(database_url, 6)
        assert len(received) == 3, "the follower came back before the events were recorded"
        assert await wait_until(lambda: len(received) >= 6, SETTLE_SECONDS)
        await asyncio.sleep(1.0)  # two heartbeats: time for a duplicate to show up

        await stream.aclose()
        await asyncio.wait_for(following, SETTLE_SECONDS)
    finally:
        await follower.close()
        await sender.close()
        await (second if second is not None else first).close()

    assert [e.event_id for e in received] == in_log_order
    assert all(e.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED for e in received)
    assert "event stream ended (UNAVAILABLE" in caplog.text


async def test_follow_events_resumes_after_a_cursor_and_with_a_filter(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str, database_url: str
) -> None:
    async with AsyncClient(backchannel.address) as client:
        for recipient_id in ("acme", "other"):
            await client.create_recipient(
                webhook_recipient(recipient_id, receiver.url, signing_secret)
            )
        await client.send_feedback(BRIEF_EXAMPLE, ["acme", "other"], request_id="one")
        await wait_for_event_count(database_url, 2)
        await client.send_feedback(BRIEF_EXAMPLE, ["acme", "other"], request_id="two")
        await wait_for_event_count(database_url, 4)
        listed = [e async for e in client.list_events()]
        after = listed[1].cursor
        async with client.follow_events(
            EventFilter(recipient_ids=["acme"]), after_cursor=after
        ) as stream:
            [event] = [e async for e in _take(stream, 1)]

    later_acme = [e.event_id for e in listed[2:] if e.recipient_id == "acme"]
    assert [event.event_id] == later_acme


async def _take(
    stream: AsyncIterator[FeedbackSentEvent], count: int
) -> AsyncIterator[FeedbackSentEvent]:
    async with asyncio.timeout(SETTLE_SECONDS):
        taken = 0
        async for event in stream:
            yield event
            taken += 1
            if taken == count:
                return


async def test_closing_a_stream_ends_the_iteration_of_a_waiting_reader(
    backchannel: RunningServer,
) -> None:
    async with AsyncClient(backchannel.address) as client:
        stream = client.follow_events()
        reader = asyncio.create_task(anext(stream, None))
        await asyncio.sleep(0.3)

        await stream.aclose()

        assert await asyncio.wait_for(reader, 5.0) is None


async def test_events_are_not_yielded_twice_when_the_stream_only_sends_heartbeats(
    backchannel: RunningServer, database_url: str
) -> None:
    async with AsyncClient(backchannel.address) as client:
        stream = client.follow_events(from_beginning=True)
        reader = asyncio.create_task(anext(stream, None))
        await asyncio.sleep(1.2)  # two heartbeats advance the cursor past the empty log

        assert not reader.done()
        assert stream.cursor
        await stream.aclose()
        assert await reader is None
    assert await sent_event_ids(database_url) == []
