"""Calls the delivery-policy tests make again and again: start servers with their own
settings, send feedback, read deliveries, health and operator events back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
from backchannel_client.v1 import (
    delivery_service_pb2_grpc,
    event_pb2,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
)
from google.protobuf.duration_pb2 import Duration
from google.protobuf.struct_pb2 import Struct

from support.brief_example import brief_example_feedback
from support.in_process_server import RunningServer, settings_for_test, start_server
from support.polling import eventually
from support.scripted_receiver import ScriptedReceiver
from support.webhook_recipients import create_webhook_recipient

Delivery = feedback_service_pb2.Delivery
Event = event_pb2.FeedbackSentEvent
OperatorEvent = event_pb2.OperatorEvent


@contextlib.asynccontextmanager
async def servers(
    database_url: str, count: int = 1, **overrides: Any
) -> AsyncIterator[list[RunningServer]]:
    """``count`` replicas on one database, each with the test settings and ``overrides``."""
    running: list[RunningServer] = []
    try:
        for _ in range(count):
            running.append(await start_server(settings_for_test(database_url, **overrides)))
        yield running
    finally:
        for replica in reversed(running):
            await replica.close()


@contextlib.asynccontextmanager
async def receivers(count: int = 1) -> AsyncIterator[list[ScriptedReceiver]]:
    started: list[ScriptedReceiver] = []
    try:
        for _ in range(count):
            receiver = ScriptedReceiver()
            await receiver.start()
            started.append(receiver)
        yield started
    finally:
        for receiver in started:
            await receiver.stop()


def delivery_stub(running: RunningServer) -> delivery_service_pb2_grpc.DeliveryServiceStub:
    return delivery_service_pb2_grpc.DeliveryServiceStub(running.channel)


async def send(
    running: RunningServer,
    recipient_ids: list[str],
    *,
    lead_id: str | None = None,
    campaign: str | None = None,
) -> feedback_service_pb2.SendFeedbackResponse:
    """Sends the brief's example feedback; ``campaign`` marks it so a receiver can tell
    feedback apart by its body."""
    feedback = brief_example_feedback()
    if lead_id is not None:
        feedback.lead.lead_id = lead_id
    if campaign is not None:
        feedback.attribution.campaign = campaign
    answer: feedback_service_pb2.SendFeedbackResponse = await running.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id=str(uuid.uuid4()), feedback=feedback, recipient_ids=recipient_ids
        )
    )
    return answer


def duration(seconds: float) -> Duration:
    value = Duration()
    value.FromNanoseconds(round(seconds * 1e9))
    return value


SIGNING_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def create_recipient(
    running: RunningServer,
    recipient_id: str,
    url: str,
    *,
    timeout_seconds: float | None = None,
    **policies: recipient_pb2.RetryPolicy | recipient_pb2.DeliveryLimits | bool,
) -> recipient_pb2.Recipient:
    """A webhook recipient posting to ``url``, with ``policies`` among retry_policy,
    limits and ordered_delivery."""
    extra: dict[str, object] = dict(policies)
    if timeout_seconds is not None:
        settings = Struct()
        settings.update({"url": url, "timeout_seconds": timeout_seconds})
        extra["transport_settings"] = settings
    return await create_webhook_recipient(running, recipient_id, url, SIGNING_SECRET, **extra)


async def delivery(running: RunningServer, feedback_id: str, recipient_id: str) -> Delivery:
    """The delivery of a feedback to a recipient, with every attempt."""
    got = await running.feedback.GetFeedback(
        feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
    )
    [found] = [d for d in got.deliveries if d.recipient_id == recipient_id]
    return found


async def settled_delivery(
    running: RunningServer,
    feedback_id: str,
    recipient_id: str,
    state: feedback_service_pb2.DeliveryState.ValueType,
    timeout: float = 10.0,
) -> Delivery:
    """Waits until the delivery reaches ``state`` with its last attempt recorded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await delivery(running, feedback_id, recipient_id)
        if found.state == state and len(found.attempts) == found.attempt_count:
            return found
        if loop.time() > deadline:
            raise AssertionError(
                f"delivery still {feedback_service_pb2.DeliveryState.Name(found.state)} "
                f"after {timeout:g} s, attempts: {[_status(a) for a in found.attempts]}"
            )
        await asyncio.sleep(0.05)


def _status(event: Event) -> str:
    return event_pb2.ProcessingStatus.Name(event.processing_status)


def statuses(found: Delivery) -> list[str]:
    """How each attempt ended, e.g. ["RETRY_SCHEDULED", "SUCCEEDED"]."""
    return [_status(a).removeprefix("PROCESSING_STATUS_") for a in found.attempts]


async def get_recipient(running: RunningServer, recipient_id: str) -> recipient_pb2.Recipient:
    answer = await running.recipients.GetRecipient(
        recipient_service_pb2.GetRecipientRequest(recipient_id=recipient_id)
    )
    recipient: recipient_pb2.Recipient = answer.recipient
    return recipient


async def set_state(
    running: RunningServer, recipient_id: str, state: recipient_pb2.RecipientState.ValueType
) -> recipient_pb2.Recipient:
    request = recipient_service_pb2.UpdateRecipientRequest(
        recipient=recipient_pb2.Recipient(id=recipient_id, state=state)
    )
    request.update_mask.paths.append("state")
    answer = await running.recipients.UpdateRecipient(request)
    recipient: recipient_pb2.Recipient = answer.recipient
    return recipient


async def operator_events_until(
    running: RunningServer,
    recipient_id: str,
    wanted: event_pb2.OperatorEventType.ValueType,
    timeout: float = 3.0,
) -> list[OperatorEvent]:
    """Streams the recipient's events from the beginning, operator events included, until
    one of type ``wanted`` comes; returns the operator events read so far. Call it once
    the change that records the event is visible: the stream then has a few heartbeats'
    time to carry it."""
    call = running.feedback.StreamFeedbackEvents(
        feedback_service_pb2.StreamFeedbackEventsRequest(
            filter=feedback_service_pb2.EventFilter(
                recipient_ids=[recipient_id], include_operator_events=True
            ),
            from_beginning=True,
        )
    )
    seen: list[OperatorEvent] = []

    async def read() -> None:
        async for item in call:
            if item.HasField("operator_event"):
                seen.append(item.operator_event)
                if item.operator_event.type == wanted:
                    return

    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        names = [event_pb2.OperatorEventType.Name(e.type) for e in seen]
        raise AssertionError(
            f"no {event_pb2.OperatorEventType.Name(wanted)} on the stream within {timeout:g} s;"
            f" it carried {names}"
        ) from None
    finally:
        call.cancel()
    return seen


async def recorded_operator_events(database_url: str, recipient_id: str) -> list[str]:
    """The categories of the recipient's operator events in the event log, oldest first."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT category FROM feedback_events"
            " WHERE recipient_id = $1 AND category <> 'transmission' ORDER BY xid, seq",
            recipient_id,
        )
        return [row["category"] for row in rows]
    finally:
        await connection.close()


async def recipient_where(
    running: RunningServer,
    recipient_id: str,
    condition: Callable[[recipient_pb2.Recipient], bool],
    timeout: float = 10.0,
) -> recipient_pb2.Recipient:
    """Waits until the recipient, as GetRecipient shows it, meets ``condition``."""

    async def check() -> recipient_pb2.Recipient | None:
        recipient = await get_recipient(running, recipient_id)
        return recipient if condition(recipient) else None

    return await eventually(check, timeout)


async def stored_deliveries(database_url: str, recipient_id: str) -> list[asyncpg.Record]:
    """The recipient's delivery rows as stored: id, state, attempt_count, next_attempt_time."""
    connection = await asyncpg.connect(database_url)
    try:
        return list(
            await connection.fetch(
                "SELECT id, state, attempt_count, next_attempt_time FROM deliveries"
                " WHERE recipient_id = $1 ORDER BY create_time, id",
                recipient_id,
            )
        )
    finally:
        await connection.close()
