"""DeliveryService: an operator's retry, resend and recover, each carried out as new
attempts recorded with who asked; and the requests it refuses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from aiohttp import web
from backchannel_client.v1 import delivery_service_pb2, feedback_service_pb2, recipient_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from support.delivery_calls import (
    create_recipient,
    delivery,
    delivery_stub,
    receivers,
    send,
    servers,
    set_state,
    settled_delivery,
    statuses,
)
from support.in_process_server import RunningServer
from support.polling import eventually
from support.rpc_errors import rich_error
from support.scripted_receiver import Answer, Arrival, stall_then, status

SUCCEEDED = feedback_service_pb2.DELIVERY_STATE_SUCCEEDED
FAILED = feedback_service_pb2.DELIVERY_STATE_FAILED
DEAD = feedback_service_pb2.DELIVERY_STATE_DEAD
PENDING = feedback_service_pb2.DELIVERY_STATE_PENDING
#: Three attempts 0.1 s apart; the circuit breaker stays out of the way.
SETTINGS: dict[str, Any] = {"retry_schedule": (0.0, 0.1, 0.1), "circuit_failure_threshold": 1000}
OPERATOR = "ops@example.com"


async def settled_after(
    server: RunningServer,
    feedback_id: str,
    recipient_id: str,
    state: feedback_service_pb2.DeliveryState.ValueType,
    attempts: int,
) -> feedback_service_pb2.Delivery:
    """Waits until the delivery is in ``state`` with ``attempts`` attempts recorded."""

    async def check() -> feedback_service_pb2.Delivery | None:
        found = await delivery(server, feedback_id, recipient_id)
        done = found.state == state and len(found.attempts) == attempts
        return found if done else None

    return await eventually(check)


def timestamp(moment: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(moment)
    return result


def now() -> datetime:
    return datetime.now(UTC)


# --- retry -------------------------------------------------------------------------------


async def test_retrying_a_dead_delivery_makes_a_new_attempt_recorded_with_who_asked(
    database_url: str,
) -> None:
    async with servers(database_url, **SETTINGS) as [server], receivers() as [sink]:
        sink.answer = status(500)
        await create_recipient(server, "acme", sink.url)
        sent = await send(server, ["acme"])
        dead = await settled_delivery(server, sent.feedback.id, "acme", DEAD)
        sink.answer = status(204)

        answer = await delivery_stub(server).RetryDelivery(
            delivery_service_pb2.RetryDeliveryRequest(delivery_id=dead.id, requested_by=OPERATOR)
        )

        assert (answer.delivery.id, answer.delivery.state) == (dead.id, PENDING)
        done = await settled_after(server, sent.feedback.id, "acme", SUCCEEDED, attempts=4)
        retry = done.attempts[3]
        assert (retry.attempt, retry.requested_by) == (4, OPERATOR)
        assert all(a.requested_by == "" for a in done.attempts[:3])
        assert [a.webhook_id for a in sink.arrivals] == [dead.id] * 4


async def test_retrying_a_dead_delivery_restarts_its_retry_policy(database_url: str) -> None:
    async with servers(database_url, **SETTINGS) as [server], receivers() as [sink]:
        sink.answer = status(500)
        await create_recipient(server, "acme", sink.url)
        sent = await send(server, ["acme"])
        dead = await settled_delivery(server, sent.feedback.id, "acme", DEAD)

        await delivery_stub(server).RetryDelivery(
            delivery_service_pb2.RetryDeliveryRequest(delivery_id=dead.id, requested_by=OPERATOR)
        )

        done = await settled_after(server, sent.feedback.id, "acme", DEAD, attempts=6)
        assert statuses(done) == ["RETRY_SCHEDULED", "RETRY_SCHEDULED", "DEAD"] * 2


async def test_retrying_a_delivery_during_its_attempt_is_refused(database_url: str) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        sink.answer = stall_then(sink, 2.0)
        await create_recipient(server, "acme", sink.url)
        sent = await send(server, ["acme"])
        await sink.wait_for(1)

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await delivery_stub(server).RetryDelivery(
                delivery_service_pb2.RetryDeliveryRequest(
                    delivery_id=sent.deliveries[0].id, requested_by=OPERATOR
                )
            )

        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


# --- resend ------------------------------------------------------------------------------


async def test_resending_a_delivered_feedback_is_a_new_attempt_under_the_same_webhook_id(
    database_url: str,
) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        await create_recipient(server, "acme", sink.url)
        sent = await send(server, ["acme"])
        delivered = await settled_delivery(server, sent.feedback.id, "acme", SUCCEEDED)

        answer = await delivery_stub(server).ResendFeedback(
            delivery_service_pb2.ResendFeedbackRequest(
                feedback_id=sent.feedback.id, recipient_id="acme", requested_by=OPERATOR
            )
        )

        assert answer.delivery.id == delivered.id
        done = await settled_after(server, sent.feedback.id, "acme", SUCCEEDED, attempts=2)
        assert (done.attempts[1].attempt, done.attempts[1].requested_by) == (2, OPERATOR)
        assert [a.webhook_id for a in sink.arrivals] == [delivered.id] * 2


async def test_resending_to_a_recipient_that_never_had_the_feedback_creates_a_delivery(
    database_url: str,
) -> None:
    async with servers(database_url) as [server], receivers(2) as [first, second]:
        await create_recipient(server, "acme", first.url)
        await create_recipient(server, "beta", second.url)
        sent = await send(server, ["acme"])

        answer = await delivery_stub(server).ResendFeedback(
            delivery_service_pb2.ResendFeedbackRequest(
                feedback_id=sent.feedback.id, recipient_id="beta", requested_by=OPERATOR
            )
        )

        created = answer.delivery
        assert (created.recipient_id, created.feedback_id) == ("beta", sent.feedback.id)
        assert created.id != sent.deliveries[0].id
        done = await settled_delivery(server, sent.feedback.id, "beta", SUCCEEDED)
        assert done.id == created.id
        assert (done.attempts[0].attempt, done.attempts[0].requested_by) == (1, OPERATOR)
        [arrival] = await second.wait_for(1)
        assert arrival.headers["webhook-id"] == created.id


# --- recover -----------------------------------------------------------------------------


def by_campaign(codes: dict[str, int]) -> Answer:
    """Answers each request with the status given for its feedback's campaign."""

    async def answer(arrival: Arrival, _request: web.Request) -> web.StreamResponse:
        return web.Response(status=codes[arrival.document["attribution"]["campaign"]])

    return answer


async def test_recover_makes_due_exactly_the_failed_and_dead_deliveries_created_in_range(
    database_url: str,
) -> None:
    async with servers(database_url, **SETTINGS) as [server], receivers() as [sink]:
        sink.answer = by_campaign({"bad": 400, "down": 500, "ok": 204})
        one_attempt = recipient_pb2.RetryPolicy(max_attempts=1)
        await create_recipient(server, "acme", sink.url, retry_policy=one_attempt)
        before = await send(server, ["acme"], campaign="bad")
        start = now()
        in_range = [await send(server, ["acme"], campaign=c) for c in ("bad", "down", "ok")]
        end = now()
        after = await send(server, ["acme"], campaign="bad")
        expected = [FAILED, FAILED, DEAD, SUCCEEDED, FAILED]
        for sent, state in zip([before, *in_range, after], expected, strict=True):
            await settled_delivery(server, sent.feedback.id, "acme", state)
        sink.answer = status(204)

        answer = await delivery_stub(server).RecoverDeliveries(
            delivery_service_pb2.RecoverDeliveriesRequest(
                recipient_id="acme",
                start_time=timestamp(start),
                end_time=timestamp(end),
                requested_by=OPERATOR,
            )
        )

        assert answer.recovered_count == 2
        for sent in in_range[:2]:
            done = await settled_after(server, sent.feedback.id, "acme", SUCCEEDED, attempts=2)
            assert done.attempts[1].requested_by == OPERATOR
        await asyncio.sleep(0.5)  # time for anything else wrongly made due to go out
        for sent in (before, after, in_range[2]):
            untouched = await delivery(server, sent.feedback.id, "acme")
            assert untouched.attempt_count == 1
        assert len(sink.arrivals) == 5 + 2


# --- refusals ----------------------------------------------------------------------------

Call = Callable[[RunningServer, str], Awaitable[object]]


def retry_call(requested_by: str) -> Call:
    async def call(server: RunningServer, delivery_id: str) -> object:
        return await delivery_stub(server).RetryDelivery(
            delivery_service_pb2.RetryDeliveryRequest(
                delivery_id=delivery_id, requested_by=requested_by
            )
        )

    return call


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def test_every_action_without_requested_by_is_invalid_naming_the_field(
    database_url: str,
) -> None:
    async with servers(database_url) as [server]:
        stub = delivery_stub(server)
        calls = [
            stub.RetryDelivery(delivery_service_pb2.RetryDeliveryRequest(delivery_id="dlv_x")),
            stub.ResendFeedback(
                delivery_service_pb2.ResendFeedbackRequest(feedback_id="fb_x", recipient_id="acme")
            ),
            stub.RecoverDeliveries(
                delivery_service_pb2.RecoverDeliveriesRequest(
                    recipient_id="acme",
                    start_time=timestamp(datetime(2024, 1, 1, tzinfo=UTC)),
                    end_time=timestamp(datetime(2024, 1, 2, tzinfo=UTC)),
                    requested_by="  ",
                )
            ),
        ]
        for call in calls:
            error = rich_error(await refused(call))
            assert error.code == grpc.StatusCode.INVALID_ARGUMENT
            assert error.violated_fields == ["requested_by"]


async def test_recover_with_the_end_before_the_start_is_invalid_listing_every_problem(
    database_url: str,
) -> None:
    async with servers(database_url) as [server]:
        error = rich_error(
            await refused(
                delivery_stub(server).RecoverDeliveries(
                    delivery_service_pb2.RecoverDeliveriesRequest(
                        recipient_id="acme",
                        start_time=timestamp(datetime(2024, 1, 2, tzinfo=UTC)),
                        end_time=timestamp(datetime(2024, 1, 1, tzinfo=UTC)),
                    )
                )
            )
        )

        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert sorted(error.violated_fields) == ["end_time", "requested_by"]


async def test_retrying_an_unknown_delivery_is_not_found(database_url: str) -> None:
    async with servers(database_url) as [server]:
        error = await refused(retry_call(OPERATOR)(server, "dlv_01hzzzzzzzzzzzzzzzzzzzzzzz"))

        assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_resending_an_unknown_feedback_is_not_found(database_url: str) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        await create_recipient(server, "acme", sink.url)

        error = await refused(
            delivery_stub(server).ResendFeedback(
                delivery_service_pb2.ResendFeedbackRequest(
                    feedback_id="fb_01hzzzzzzzzzzzzzzzzzzzzzzz",
                    recipient_id="acme",
                    requested_by=OPERATOR,
                )
            )
        )

        assert error.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("action", ["retry", "resend", "recover"])
async def test_actions_on_a_disabled_recipient_are_refused_as_a_failed_precondition(
    database_url: str, action: str
) -> None:
    async with servers(database_url) as [server], receivers() as [sink]:
        await create_recipient(server, "acme", sink.url)
        sent = await send(server, ["acme"])
        await settled_delivery(server, sent.feedback.id, "acme", SUCCEEDED)
        await set_state(server, "acme", recipient_pb2.RECIPIENT_STATE_DISABLED)
        stub = delivery_stub(server)
        calls = {
            "retry": lambda: retry_call(OPERATOR)(server, sent.deliveries[0].id),
            "resend": lambda: stub.ResendFeedback(
                delivery_service_pb2.ResendFeedbackRequest(
                    feedback_id=sent.feedback.id, recipient_id="acme", requested_by=OPERATOR
                )
            ),
            "recover": lambda: stub.RecoverDeliveries(
                delivery_service_pb2.RecoverDeliveriesRequest(
                    recipient_id="acme",
                    start_time=timestamp(datetime(2024, 1, 1, tzinfo=UTC)),
                    end_time=timestamp(now()),
                    requested_by=OPERATOR,
                )
            ),
        }

        error = await refused(calls[action]())

        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        await asyncio.sleep(0.3)
        assert len(sink.arrivals) == 1
