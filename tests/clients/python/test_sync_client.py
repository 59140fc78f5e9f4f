"""Client (synchronous) against a real Backchannel server. The server runs on the test's
event loop, so every blocking client call runs in a thread."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid

import grpc
import pytest
from backchannel_client import (
    BackchannelError,
    Client,
    FeedbackSentEvent,
    InvalidArgumentError,
    NotFoundError,
    RetrySettings,
    build_feedback,
)
from support.brief_example import BRIEF_EXAMPLE
from support.database_rows import stored_feedback
from support.event_log import wait_for_event_count
from support.in_process_server import RunningServer, serving, settings_for_test, start_server
from support.postgres_cluster import free_port
from support.receiver import WebhookReceiver
from support.waiting import SETTLE_SECONDS, wait_until
from support.webhook_recipients import webhook_recipient

FAST_RETRY = RetrySettings(initial_backoff=0.05, max_backoff=0.5, max_attempts=30, total_timeout=30)


async def test_send_feedback_generates_a_request_id_and_get_feedback_reads_it_back(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    with Client(backchannel.address) as client:
        recipient = webhook_recipient("acme", receiver.url, signing_secret)
        created = await asyncio.to_thread(client.create_recipient, recipient)
        answer = await asyncio.to_thread(client.send_feedback, BRIEF_EXAMPLE, ["acme"])
        stored = await asyncio.to_thread(client.get_feedback, answer.feedback.id)

    assert created.secret_setting_names == ["signing_secrets"]
    assert uuid.UUID(answer.feedback.request_id).version == 4
    assert stored.feedback == answer.feedback
    assert [d.id for d in stored.deliveries] == [d.id for d in answer.deliveries]


async def test_a_retry_after_unavailable_reuses_the_request_id_and_stores_one_feedback(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    caplog.set_level(logging.INFO, logger="backchannel_client")
    with Client(f"127.0.0.1:{port}", retry=FAST_RETRY, timeout=2.0) as client:
        sending = asyncio.create_task(
            asyncio.to_thread(client.send_feedback, BRIEF_EXAMPLE, request_id="sync-retry")
        )
        assert await wait_until(lambda: "UNAVAILABLE" in caplog.text, SETTLE_SECONDS)
        async with serving(database_url, listen=f"127.0.0.1:{port}"):
            answer = await sending

    assert answer.feedback.request_id == "sync-retry"
    assert "with the same request id sync-retry" in caplog.text
    assert await stored_feedback(database_url) == [(answer.feedback.id, "sync-retry")]


async def test_an_invalid_feedback_raises_invalid_argument_with_every_field_violation(
    backchannel: RunningServer,
) -> None:
    feedback = build_feedback(kind="quality", lead_id="LC1", overall_score=150)
    feedback.quality.dimensions["data_quality"] = -1

    with Client(backchannel.address) as client, pytest.raises(InvalidArgumentError) as caught:
        await asyncio.to_thread(client.send_feedback, feedback, ["Not An Id"])

    fields = [v.field for v in caught.value.field_violations]
    assert sorted(fields) == [
        "feedback.quality.dimensions['data_quality']",
        "feedback.quality.overall_score",
        "recipient_ids[0]",
    ]
    assert "3 invalid fields" in caught.value.message


async def test_get_feedback_of_an_unknown_id_raises_not_found(backchannel: RunningServer) -> None:
    with Client(backchannel.address) as client, pytest.raises(NotFoundError) as caught:
        await asyncio.to_thread(client.get_feedback, "fb_missing")

    assert caught.value.reason == "FEEDBACK_NOT_FOUND"
    assert str(caught.value) == "NOT_FOUND: feedback 'fb_missing' does not exist"


async def test_list_events_iterates_every_page(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str, database_url: str
) -> None:
    with Client(backchannel.address) as client:
        await asyncio.to_thread(
            client.create_recipient, webhook_recipient("acme", receiver.url, signing_secret)
        )
        for i in range(5):
            await asyncio.to_thread(client.send_feedback, BRIEF_EXAMPLE, ["acme"], f"page-{i}")
        in_log_order = await wait_for_event_count(database_url, 5)

        listed = await asyncio.to_thread(lambda: list(client.list_events(page_size=2)))

    assert [e.event_id for e in listed] == in_log_order


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
    follower = Client(address, retry=RetrySettings(initial_backoff=4.0, max_backoff=4.0))
    sender = Client(address, retry=FAST_RETRY)
    stream = follower.follow_events(from_beginning=True)
    reader = threading.Thread(target=lambda: received.extend(stream), daemon=True)

    async def send(request_id: str) -> None:
        await asyncio.to_thread(sender.send_feedback, BRIEF_EXAMPLE, ["acme"], request_id)

    try:
        await asyncio.to_thread(
            sender.create_recipient, webhook_recipient("acme", receiver.url, signing_secret)
        )
        reader.start()
        for i in range(3):
            await send(f"before-{i}")
        assert await wait_until(lambda: len(received) == 3, SETTLE_SECONDS)

        await first.close()
        second = await start_server(settings_for_test(database_url, listen=address))
        for i in range(3):
            await send(f"after-{i}")
        in_log_order = await wait_for_event_count(database_url, 6)
        assert len(received) == 3, "the follower came back before the events were recorded"
        assert await wait_until(lambda: len(received) >= 6, SETTLE_SECONDS)
        await asyncio.sleep(1.0)  # two heartbeats: time for a duplicate to show up

        stream.close()
        await asyncio.to_thread(reader.join, SETTLE_SECONDS)
        assert not reader.is_alive()
    finally:
        stream.close()
        follower.close()
        sender.close()
        await (second if second is not None else first).close()

    assert [e.event_id for e in received] == in_log_order
    assert "event stream ended (UNAVAILABLE" in caplog.text


async def test_closing_the_client_ends_a_stream_blocked_in_another_thread(
    backchannel: RunningServer,
) -> None:
    client = Client(backchannel.address)
    stream = client.follow_events()
    finished = threading.Event()

    def read() -> None:
        for _ in stream:
            pass
        finished.set()

    threading.Thread(target=read, daemon=True).start()
    await asyncio.sleep(0.3)

    client.close()

    assert await asyncio.to_thread(finished.wait, 5.0)


async def test_a_stream_that_cannot_resume_raises_instead_of_retrying(
    backchannel: RunningServer,
) -> None:
    with Client(backchannel.address) as client:
        stream = client.follow_events(after_cursor="not-a-cursor")
        with pytest.raises(InvalidArgumentError) as caught:
            await asyncio.to_thread(next, stream)

    assert [v.field for v in caught.value.field_violations] == ["after_cursor"]
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_wait_until_ready_returns_once_connected_and_fails_fast_when_nobody_listens(
    backchannel: RunningServer,
) -> None:
    with Client(backchannel.address) as up, Client(f"127.0.0.1:{free_port()}") as down:
        await asyncio.to_thread(up.wait_until_ready, 30.0)
        with pytest.raises(BackchannelError) as raised:
            await asyncio.to_thread(down.wait_until_ready, 0.5)

    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert "no connection to 127.0.0.1:" in raised.value.message
