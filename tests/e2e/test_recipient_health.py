"""Recipient health end to end: the circuit breaker (open, wait without burning attempts,
one probe, close) and auto-disable (disable, hold, enable again)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC
from typing import Any

from aiohttp import web
from backchannel_client.v1 import (
    event_pb2,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
)
from support.delivery_calls import (
    create_recipient,
    get_recipient,
    operator_events_until,
    receivers,
    recipient_where,
    recorded_operator_events,
    send,
    servers,
    set_state,
    settled_delivery,
    stored_deliveries,
)
from support.in_process_server import RunningServer
from support.polling import eventually
from support.scripted_receiver import Arrival, ScriptedReceiver, stall_then, status

SUCCEEDED = feedback_service_pb2.DELIVERY_STATE_SUCCEEDED
OPEN = recipient_pb2.CIRCUIT_STATE_OPEN
CLOSED = recipient_pb2.CIRCUIT_STATE_CLOSED
DISABLED = recipient_pb2.RECIPIENT_STATE_DISABLED
ACTIVE = recipient_pb2.RECIPIENT_STATE_ACTIVE
#: Ten attempts 0.1 s apart: deliveries stay alive through a test's failures.
SHORT_SCHEDULE = (0.0,) + (0.1,) * 9
#: Long enough for several retries of the short schedule to have come, had any been due.
QUIET = 0.6


def breaker(open_seconds: float) -> dict[str, Any]:
    return {
        "retry_schedule": SHORT_SCHEDULE,
        "circuit_failure_threshold": 3,
        "circuit_open_seconds": open_seconds,
    }


#: Failing recipients are disabled after 1 s; the breaker never opens in the way.
AUTO_DISABLE: dict[str, Any] = {
    "retry_schedule": (0.0,) + (0.2,) * 30,
    "circuit_failure_threshold": 1000,
    "auto_disable_after_seconds": 1.0,
}


def circuit_open(recipient: recipient_pb2.Recipient) -> bool:
    return recipient.health.circuit_state == OPEN


def is_disabled(recipient: recipient_pb2.Recipient) -> bool:
    return recipient.state == DISABLED


# --- circuit breaker ---------------------------------------------------------------------


async def test_three_consecutive_failures_open_the_circuit(database_url: str) -> None:
    async with servers(database_url, **breaker(30.0)) as [server], receivers() as [sink]:
        _, recipient = await failing_recipient(server, sink, until=circuit_open)

        assert recipient.health.consecutive_failures == 3
        assert recipient.health.open_until.ToDatetime() > (
            recipient.health.failing_since.ToDatetime()
        )
        assert len(sink.arrivals) == 3


async def test_an_opened_circuit_is_announced_as_circuit_opened(database_url: str) -> None:
    async with servers(database_url, **breaker(30.0)) as [server], receivers() as [sink]:
        await failing_recipient(server, sink, until=circuit_open)

        assert "circuit_opened" in await recorded_operator_events(database_url, "acme")
        await operator_events_until(server, "acme", event_pb2.OPERATOR_EVENT_TYPE_CIRCUIT_OPENED)


async def test_while_the_circuit_is_open_due_deliveries_wait_without_using_attempts(
    database_url: str,
) -> None:
    async with servers(database_url, **breaker(30.0)) as [server], receivers() as [sink]:
        await failing_recipient(server, sink, until=circuit_open)
        before = {
            r["id"]: r["attempt_count"] for r in await stored_deliveries(database_url, "acme")
        }

        for _ in range(3):
            await send(server, ["acme"])
        await asyncio.sleep(QUIET)  # six retry delays of the schedule

        after = await stored_deliveries(database_url, "acme")
        assert len(sink.arrivals) == 3
        assert {r["id"]: r["attempt_count"] for r in after if r["id"] in before} == before
        waiting = [r for r in after if r["id"] not in before]
        assert [(r["state"], r["attempt_count"]) for r in waiting] == [("pending", 0)] * 3


async def test_after_the_cool_down_one_probe_goes_and_its_success_lets_the_rest_flow(
    database_url: str,
) -> None:
    # Two replicas: the probe is one for the recipient, not one per replica.
    async with (
        servers(database_url, count=2, **breaker(1.0)) as [server, _],
        receivers() as [sink],
    ):
        first, opened = await failing_recipient(server, sink, until=circuit_open)
        sink.answer = status(204)  # well before the probe, due 1 s after opening
        sent = [first, await send(server, ["acme"]), await send(server, ["acme"])]

        done = [await settled_delivery(server, s.feedback.id, "acme", SUCCEEDED) for s in sent]

        open_until = opened.health.open_until.ToDatetime(tzinfo=UTC)
        after_opening = sorted(
            (a for d in done for a in d.attempts if a.start_time.ToDatetime(UTC) >= open_until),
            key=lambda a: a.start_time.ToDatetime(UTC),
        )
        probe, *others = after_opening
        assert len(others) == 2
        assert all(probe.end_time.ToDatetime(UTC) <= o.start_time.ToDatetime(UTC) for o in others)
        assert sink.arrivals[3].wall >= open_until
        health = (await get_recipient(server, "acme")).health
        assert (health.circuit_state, health.consecutive_failures) == (CLOSED, 0)


async def test_a_circuit_closed_by_a_probe_is_announced_as_circuit_closed(
    database_url: str,
) -> None:
    async with servers(database_url, **breaker(1.0)) as [server], receivers() as [sink]:
        sent, _ = await failing_recipient(server, sink, until=circuit_open)
        sink.answer = status(204)

        await settled_delivery(server, sent.feedback.id, "acme", SUCCEEDED)

        assert "circuit_closed" in await recorded_operator_events(database_url, "acme")
        await operator_events_until(server, "acme", event_pb2.OPERATOR_EVENT_TYPE_CIRCUIT_CLOSED)


async def test_a_healthy_recipient_keeps_receiving_while_a_stalling_one_is_cut_off(
    database_url: str,
) -> None:
    async with (
        servers(database_url, delivery_concurrency=4, **breaker(30.0)) as [server],
        receivers(2) as [stalling, healthy],
    ):
        stalling.answer = stall_then(stalling, 30.0)
        await create_recipient(server, "stalling", stalling.url, timeout_seconds=1.0)
        await create_recipient(server, "healthy", healthy.url)

        for _ in range(20):
            await send(server, ["stalling"])
        for _ in range(10):
            await send(server, ["healthy"])

        await healthy.wait_for(10, timeout=10.0)
        stalled = await get_recipient(server, "stalling")
        assert stalled.health.circuit_state == OPEN
        assert len(stalling.arrivals) < 10


async def test_update_recipient_answers_with_the_recipients_current_health(
    database_url: str,
) -> None:
    async with servers(database_url, **breaker(30.0)) as [server], receivers() as [sink]:
        await failing_recipient(server, sink, until=circuit_open)

        request = recipient_service_pb2.UpdateRecipientRequest(
            recipient=recipient_pb2.Recipient(id="acme", display_name="Acme Leads")
        )
        request.update_mask.paths.append("display_name")
        answer = await server.recipients.UpdateRecipient(request)

        assert answer.recipient.health.circuit_state == OPEN
        assert answer.recipient.health.consecutive_failures == 3


# --- auto-disable ------------------------------------------------------------------------


async def test_a_recipient_failing_for_the_auto_disable_window_is_disabled_with_a_reason(
    database_url: str,
) -> None:
    async with servers(database_url, **AUTO_DISABLE) as [server], receivers() as [sink]:
        _, recipient = await failing_recipient(server, sink, until=is_disabled)

        assert "failing" in recipient.health.disabled_reason
        failing_since = recipient.health.failing_since.ToDatetime()
        assert (recipient.update_time.ToDatetime() - failing_since).total_seconds() >= 1.0


async def test_auto_disable_is_announced_as_recipient_disabled(database_url: str) -> None:
    async with servers(database_url, **AUTO_DISABLE) as [server], receivers() as [sink]:
        await failing_recipient(server, sink, until=is_disabled)

        assert "recipient_disabled" in await recorded_operator_events(database_url, "acme")
        seen = await operator_events_until(
            server, "acme", event_pb2.OPERATOR_EVENT_TYPE_RECIPIENT_DISABLED
        )
        assert "failing" in seen[-1].message


async def test_once_auto_disabled_no_more_attempts_are_made_and_deliveries_are_held(
    database_url: str,
) -> None:
    async with servers(database_url, **AUTO_DISABLE) as [server], receivers() as [sink]:
        await failing_recipient(server, sink, until=is_disabled)
        await eventually(lambda: _none_in_flight(database_url, "acme"))
        attempts_when_disabled = len(sink.arrivals)

        await asyncio.sleep(QUIET)  # three retry delays of the schedule

        attempts_since = len(sink.arrivals) - attempts_when_disabled
        assert attempts_since == 0
        assert [r["state"] for r in await stored_deliveries(database_url, "acme")] == ["held"]


async def test_a_delivery_in_flight_when_an_operator_disables_its_recipient_is_held(
    database_url: str,
) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        sink.answer = stall_then(sink, 0.5, code=500)
        await create_recipient(server, "acme", sink.url)
        await send(server, ["acme"])
        await sink.wait_for(1)

        await set_state(server, "acme", DISABLED)

        await eventually(lambda: _none_in_flight(database_url, "acme"))
        await asyncio.sleep(QUIET)  # three retry delays of the test schedule
        attempts = len(sink.arrivals)
        assert attempts == 1
        assert [r["state"] for r in await stored_deliveries(database_url, "acme")] == ["held"]


async def test_a_delivery_in_flight_when_its_recipient_is_deleted_is_cancelled(
    database_url: str,
) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        sink.answer = stall_then(sink, 0.5, code=500)
        await create_recipient(server, "acme", sink.url)
        await send(server, ["acme"])
        await sink.wait_for(1)

        await server.recipients.DeleteRecipient(
            recipient_service_pb2.DeleteRecipientRequest(recipient_id="acme")
        )

        await eventually(lambda: _none_in_flight(database_url, "acme"))
        await asyncio.sleep(QUIET)  # three retry delays of the test schedule
        attempts = len(sink.arrivals)
        assert attempts == 1
        assert [r["state"] for r in await stored_deliveries(database_url, "acme")] == ["cancelled"]


async def test_enabling_a_disabled_recipient_resets_its_health_and_delivers_what_waited(
    database_url: str,
) -> None:
    async with servers(database_url, **AUTO_DISABLE) as [server], receivers() as [sink]:
        sent, _ = await failing_recipient(server, sink, until=is_disabled)
        sink.answer = status(204)

        await set_state(server, "acme", ACTIVE)

        recipient = await get_recipient(server, "acme")
        assert recipient.state == ACTIVE
        assert recipient.health.disabled_reason == ""
        assert recipient.health.circuit_state == CLOSED
        assert recipient.health.consecutive_failures == 0
        assert not recipient.health.HasField("failing_since")
        done = await settled_delivery(server, sent.feedback.id, "acme", SUCCEEDED)
        assert done.attempts[-1].response_status.code == 204


async def test_enabling_a_disabled_recipient_is_announced_as_recipient_enabled(
    database_url: str,
) -> None:
    async with servers(database_url, **AUTO_DISABLE) as [server], receivers() as [sink]:
        await failing_recipient(server, sink, until=is_disabled)

        await set_state(server, "acme", ACTIVE)

        assert "recipient_enabled" in await recorded_operator_events(database_url, "acme")
        await operator_events_until(server, "acme", event_pb2.OPERATOR_EVENT_TYPE_RECIPIENT_ENABLED)


async def failing_recipient(
    server: RunningServer,
    sink: ScriptedReceiver,
    until: Callable[[recipient_pb2.Recipient], bool],
) -> tuple[feedback_service_pb2.SendFeedbackResponse, recipient_pb2.Recipient]:
    """Creates recipient "acme", answered 500 by ``sink``, sends it a feedback, and waits
    until the recipient meets ``until``."""
    sink.answer = status(500)
    await create_recipient(server, "acme", sink.url)
    sent = await send(server, ["acme"])
    return sent, await recipient_where(server, "acme", until)


async def _none_in_flight(database_url: str, recipient_id: str) -> bool:
    rows = await stored_deliveries(database_url, recipient_id)
    return all(r["state"] != "in_flight" for r in rows)


async def test_an_open_circuit_recovers_for_a_recipient_that_accepts_only_retries(
    database_url: str,
) -> None:
    """Endpoints that deduplicate by id refuse a webhook id the first time and take it when
    it comes again. Probes must not always be first attempts, or the circuit of such a
    recipient never closes while new feedback keeps coming."""
    refused_once: set[str] = set()

    async def refuse_the_first_time(arrival: Arrival, _request: web.Request) -> web.Response:
        if arrival.webhook_id in refused_once:
            return web.Response(status=204)
        refused_once.add(arrival.webhook_id)
        return web.Response(status=500)

    async with servers(database_url, **breaker(0.3)) as [server], receivers() as [sink]:
        sink.answer = refuse_the_first_time
        await create_recipient(server, "acme", sink.url)

        async def keep_sending() -> None:
            while True:
                await send(server, ["acme"])
                await asyncio.sleep(0.05)

        sending = asyncio.create_task(keep_sending())
        try:
            await recipient_where(server, "acme", circuit_open)

            async def closed_again() -> bool:
                events = await recorded_operator_events(database_url, "acme")
                return "circuit_closed" in events[events.index("circuit_opened") :]

            await eventually(closed_again, timeout=8.0)
        finally:
            sending.cancel()
