"""A sink that fails in each way, end to end: every outcome follows the retry policy
(retry, honour Retry-After, slow down, fail at once, disable, give up)."""

from __future__ import annotations

import asyncio

import pytest
from backchannel_client.v1 import event_pb2, feedback_service_pb2, recipient_pb2
from support.delivery_calls import (
    create_recipient,
    duration,
    get_recipient,
    operator_events_until,
    receivers,
    recipient_where,
    recorded_operator_events,
    send,
    servers,
    settled_delivery,
    statuses,
)
from support.scripted_receiver import (
    first_then,
    reset_connection,
    stall_then,
    status,
    trickle_body,
)

SUCCEEDED = feedback_service_pb2.DELIVERY_STATE_SUCCEEDED
FAILED = feedback_service_pb2.DELIVERY_STATE_FAILED
DEAD = feedback_service_pb2.DELIVERY_STATE_DEAD
RETRY_SCHEDULED = event_pb2.PROCESSING_STATUS_RETRY_SCHEDULED
#: Long enough for several retries of the test schedule (0.2 s) to have come, had any
#: been scheduled.
QUIET = 0.6


def is_disabled(recipient: recipient_pb2.Recipient) -> bool:
    return recipient.state == recipient_pb2.RECIPIENT_STATE_DISABLED


def wait_before_next(event: event_pb2.FeedbackSentEvent) -> float:
    """Seconds from the end of an attempt to when the next one is due, as recorded."""
    return (event.next_attempt_time.ToDatetime() - event.end_time.ToDatetime()).total_seconds()


async def test_a_500_is_retried_and_the_retry_succeeds_under_the_same_webhook_id(
    database_url: str,
) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        sink.answer = first_then(status(500), status(204))
        await create_recipient(server, "acme", sink.url)

        answer = await send(server, ["acme"])

        done = await settled_delivery(server, answer.feedback.id, "acme", SUCCEEDED)
        assert statuses(done) == ["RETRY_SCHEDULED", "SUCCEEDED"]
        assert [a.response_status.code for a in done.attempts] == [500, 204]
        assert [a.attempt for a in done.attempts] == [1, 2]
        assert [a.webhook_id for a in sink.arrivals] == [done.id, done.id]
        assert wait_before_next(done.attempts[0]) >= 0.2 * 0.8


async def test_429_with_retry_after_waits_at_least_that_long_before_the_next_attempt(
    database_url: str,
) -> None:
    # A throttling minimum far below Retry-After: the wait can only come from the header.
    async with (
        servers(database_url, throttle_min_delay_seconds=0.05) as [server],
        receivers() as [sink],
    ):
        sink.answer = first_then(status(429, {"Retry-After": "2"}), status(204))
        await create_recipient(server, "acme", sink.url)

        answer = await send(server, ["acme"])

        done = await settled_delivery(server, answer.feedback.id, "acme", SUCCEEDED)
        first, second = done.attempts
        assert (first.processing_status, first.response_status.code) == (RETRY_SCHEDULED, 429)
        # Retry-After is a floor; the schedule's jittered 0.2 s is below it, so it is exact.
        assert 2.0 <= wait_before_next(first) < 2.0 + 0.2 * 1.2
        assert second.start_time.ToDatetime() >= first.next_attempt_time.ToDatetime()
        assert sink.arrivals[1].at - sink.arrivals[0].at >= 2.0


async def test_503_without_retry_after_waits_the_throttling_minimum(database_url: str) -> None:
    async with (
        servers(database_url, throttle_min_delay_seconds=1.0) as [server],
        receivers() as [sink],
    ):
        sink.answer = first_then(status(503), status(204))
        await create_recipient(server, "acme", sink.url)

        answer = await send(server, ["acme"])

        done = await settled_delivery(server, answer.feedback.id, "acme", SUCCEEDED)
        assert done.attempts[0].response_status.code == 503
        # The schedule alone would retry after 0.2 s +-20%.
        assert wait_before_next(done.attempts[0]) >= 1.0


@pytest.mark.parametrize("code", [400, 410])
async def test_a_permanent_refusal_fails_the_delivery_at_once_without_retry(
    database_url: str, code: int
) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        sink.answer = status(code)
        await create_recipient(server, "acme", sink.url)

        answer = await send(server, ["acme"])

        done = await settled_delivery(server, answer.feedback.id, "acme", FAILED)
        assert statuses(done) == ["FAILED"]
        assert done.attempts[0].response_status.code == code
        await asyncio.sleep(QUIET)
        assert len(sink.arrivals) == 1


async def test_410_disables_the_recipient_with_a_reason_naming_410(database_url: str) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        sink.answer = status(410)
        await create_recipient(server, "acme", sink.url)

        await send(server, ["acme"])

        recipient = await recipient_where(server, "acme", is_disabled)
        assert "410" in recipient.health.disabled_reason


async def test_a_400_leaves_the_recipient_active(database_url: str) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        sink.answer = status(400)
        await create_recipient(server, "acme", sink.url)

        answer = await send(server, ["acme"])

        await settled_delivery(server, answer.feedback.id, "acme", FAILED)
        recipient = await get_recipient(server, "acme")
        assert recipient.state == recipient_pb2.RECIPIENT_STATE_ACTIVE
        assert recipient.health.disabled_reason == ""


async def test_410_disabling_is_announced_on_a_stream_with_operator_events(
    database_url: str,
) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        sink.answer = status(410)
        await create_recipient(server, "acme", sink.url)

        await send(server, ["acme"])

        await recipient_where(server, "acme", is_disabled)
        assert "recipient_disabled" in await recorded_operator_events(database_url, "acme")
        seen = await operator_events_until(
            server, "acme", event_pb2.OPERATOR_EVENT_TYPE_RECIPIENT_DISABLED
        )
        assert "410" in seen[-1].message


async def test_no_answer_within_timeout_seconds_is_retried(database_url: str) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        sink.answer = first_then(stall_then(sink, 30.0), status(204))
        await create_recipient(server, "acme", sink.url, timeout_seconds=0.5)

        answer = await send(server, ["acme"])

        done = await settled_delivery(server, answer.feedback.id, "acme", SUCCEEDED)
        first = done.attempts[0]
        assert (first.processing_status, first.response_status.code) == (RETRY_SCHEDULED, 0)
        assert "timed out" in first.response_status.excerpt
        assert [a.webhook_id for a in sink.arrivals] == [done.id, done.id]


async def test_a_connection_reset_without_an_answer_is_retried(database_url: str) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        sink.answer = first_then(reset_connection(sink), status(204))
        await create_recipient(server, "acme", sink.url)

        answer = await send(server, ["acme"])

        done = await settled_delivery(server, answer.feedback.id, "acme", SUCCEEDED)
        first = done.attempts[0]
        assert (first.processing_status, first.response_status.code) == (RETRY_SCHEDULED, 0)
        assert [a.webhook_id for a in sink.arrivals] == [done.id, done.id]


async def test_a_2xx_whose_body_trickles_past_the_timeout_is_accepted_and_not_resent(
    database_url: str,
) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        sink.answer = trickle_body(sink, 200, chunks=10, pause=0.2)
        await create_recipient(server, "acme", sink.url, timeout_seconds=0.5)

        answer = await send(server, ["acme"])

        done = await settled_delivery(server, answer.feedback.id, "acme", SUCCEEDED)
        assert statuses(done) == ["SUCCEEDED"]
        assert done.attempts[0].response_status.code == 200
        await asyncio.sleep(QUIET)
        assert len(sink.arrivals) == 1


async def test_a_delivery_that_always_gets_500_is_dead_after_the_last_scheduled_attempt(
    database_url: str,
) -> None:
    async with (
        servers(database_url, retry_schedule=(0.0, 0.1, 0.1)) as [server],
        receivers() as [sink],
    ):
        sink.answer = status(500)
        await create_recipient(server, "acme", sink.url)

        answer = await send(server, ["acme"])

        done = await settled_delivery(server, answer.feedback.id, "acme", DEAD)
        assert statuses(done) == ["RETRY_SCHEDULED", "RETRY_SCHEDULED", "DEAD"]
        assert not done.attempts[-1].HasField("next_attempt_time")
        await asyncio.sleep(QUIET)
        assert len(sink.arrivals) == 3


async def test_a_dead_delivery_is_announced_as_delivery_exhausted(database_url: str) -> None:
    async with (
        servers(database_url, retry_schedule=(0.0, 0.1, 0.1)) as [server],
        receivers() as [sink],
    ):
        sink.answer = status(500)
        await create_recipient(server, "acme", sink.url)

        answer = await send(server, ["acme"])

        await settled_delivery(server, answer.feedback.id, "acme", DEAD)
        assert "delivery_exhausted" in await recorded_operator_events(database_url, "acme")
        seen = await operator_events_until(
            server, "acme", event_pb2.OPERATOR_EVENT_TYPE_DELIVERY_EXHAUSTED
        )
        exhausted = seen[-1]
        assert exhausted.feedback_id == answer.feedback.id
        assert exhausted.delivery_id == answer.deliveries[0].id
        assert exhausted.message


async def test_a_recipient_retry_policy_overrides_the_server_schedule(database_url: str) -> None:
    async with (
        servers(database_url, retry_schedule=(0.0, 0.1, 0.1), circuit_failure_threshold=100) as [
            server
        ],
        receivers() as [sink],
    ):
        sink.answer = status(500)
        policy = recipient_pb2.RetryPolicy(retry_delays=[duration(0.3)], max_attempts=5)
        await create_recipient(server, "acme", sink.url, retry_policy=policy)

        answer = await send(server, ["acme"])

        done = await settled_delivery(server, answer.feedback.id, "acme", DEAD, timeout=15.0)
        assert statuses(done) == ["RETRY_SCHEDULED"] * 4 + ["DEAD"]
        for attempt in done.attempts[:-1]:
            assert 0.3 * 0.8 <= wait_before_next(attempt) <= 0.3 * 1.2


async def test_a_delivery_is_dead_once_its_next_retry_would_pass_the_max_age(
    database_url: str,
) -> None:
    async with (
        servers(database_url, circuit_failure_threshold=100) as [server],
        receivers() as [sink],
    ):
        sink.answer = status(500)
        policy = recipient_pb2.RetryPolicy(
            retry_delays=[duration(0.2)], max_attempts=100, max_age=duration(0.7)
        )
        await create_recipient(server, "acme", sink.url, retry_policy=policy)

        answer = await send(server, ["acme"])

        done = await settled_delivery(server, answer.feedback.id, "acme", DEAD)
        accepted = answer.feedback.accept_time.ToDatetime()
        *retried, last = done.attempts
        assert last.processing_status == event_pb2.PROCESSING_STATUS_DEAD
        assert 1 <= len(retried) < 10
        for attempt in retried:
            due = attempt.next_attempt_time.ToDatetime()
            assert (due - accepted).total_seconds() <= 0.7
