"""backchannel.v1.FeedbackService."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
from backchannel_client.v1 import (
    feedback_pb2,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
)

from backchannel.api.conversions import (
    DELIVERY_STATE_VALUES,
    PROCESSING_STATUSES,
    delivery_message,
    event_message,
    kind_name,
    timestamp,
)
from backchannel.api.cursors import (
    decode_cursor,
    decode_page_token,
    encode_cursor,
    encode_page_token,
    page_size_of,
)
from backchannel.api.errors import ApiError, not_found
from backchannel.api.event_filters import parse_event_filter
from backchannel.api.event_stream import EventStream, StreamSettings
from backchannel.api.grants import (
    may_read,
    only_recipients,
    readable_events,
    require_recipients,
    require_source,
)
from backchannel.api.stream_limits import caller_key
from backchannel.api.validation import validate_send_feedback
from backchannel.event_filter import EventFilter
from backchannel.event_hub import EventHub
from backchannel.ids import new_id
from backchannel.intake import Intake
from backchannel.model import (
    ORIGIN,
    DeliveryState,
    EventPosition,
    EventRecord,
    NewDelivery,
    NewFeedback,
    RecipientRecord,
    RecipientState,
    StoredAnswer,
)
from backchannel.recipient_directory import RecipientDirectory
from backchannel.report.facts import feedback_facts
from backchannel.sealing.key_ring import KeyRing
from backchannel.sealing.subjects import seal_subject
from backchannel.store import batches as batch_store
from backchannel.store import events as event_store
from backchannel.store import feedback as feedback_store
from backchannel.telemetry import current_trace_origin

Context = grpc.aio.ServicerContext[Any, Any]


class FeedbackService(feedback_service_pb2_grpc.FeedbackServiceServicer):
    def __init__(
        self,
        pool: asyncpg.Pool,
        intake: Intake,
        directory: RecipientDirectory,
        hub: EventHub,
        stream_settings: StreamSettings,
        max_feedback_bytes: int,
        key_ring: KeyRing | None = None,
    ) -> None:
        self._pool = pool
        self._ring = key_ring or KeyRing()
        self._max_feedback_bytes = max_feedback_bytes
        self._intake = intake
        self._directory = directory
        self._hub = hub
        self._stream_settings = stream_settings
        self._stream = EventStream(pool, hub, stream_settings)

    async def SendFeedback(
        self, request: feedback_service_pb2.SendFeedbackRequest, context: Context
    ) -> feedback_service_pb2.SendFeedbackResponse:
        started = time.perf_counter()
        try:
            return _visible(await self._send_feedback(request))
        finally:
            # Streams write less while accepting takes longer (see api.stream_budget).
            self._stream_settings.budget.accepted(time.perf_counter() - started)

    async def _send_feedback(
        self, request: feedback_service_pb2.SendFeedbackRequest
    ) -> feedback_service_pb2.SendFeedbackResponse:
        validate_send_feedback(request, self._max_feedback_bytes)
        if request.feedback.HasField("subject") and not self._ring.configured:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "NO_SECRET_KEY",
                "feedback.subject holds personal identifiers, which are stored only sealed, "
                "and no secret key is configured (BACKCHANNEL_SECRET_KEYS or "
                "BACKCHANNEL_SECRET_KEY_FILE); nothing was stored",
            )
        require_source(request.feedback.lead.source_id)
        require_recipients(request.recipient_ids, "recipient_ids")
        digest = hashlib.sha256(request.SerializeToString(deterministic=True)).digest()
        # Recipients are first chosen from the directory's view as it is, and the
        # statement storing the feedback refuses it if the directory changed since. Then
        # (and before refusing a recipient) they are chosen from a view as new as every
        # recipient change acknowledged by now, and stored without that check.
        for version in (self._directory.version, None):
            if version is None:
                await self._directory.current()
            try:
                recipients = await self._recipients_for(request)
            except ApiError:
                if version is not None:
                    continue
                # A repeat must get the first answer even if its recipients changed since.
                earlier = await feedback_store.stored_answer(self._pool, request.request_id)
                if earlier is None:
                    raise
                return _first_answer(earlier, digest)
            answer = await self._intake.submit(
                _new_feedback(request, digest, recipients, version, self._ring)
            )
            if answer is not None:
                return _first_answer(answer, digest)
        raise AssertionError("feedback stored without a directory check has an answer")

    async def _recipients_for(
        self, request: feedback_service_pb2.SendFeedbackRequest
    ) -> list[RecipientRecord]:
        if not request.recipient_ids:
            return await self._directory.subscribers(
                kind_name(request.feedback.kind), request.feedback.lead.source_id
            )
        found = await self._directory.find(request.recipient_ids)
        missing = [i for i in request.recipient_ids if i not in found]
        if missing:
            raise ApiError(
                grpc.StatusCode.NOT_FOUND,
                "RECIPIENT_NOT_FOUND",
                f"no recipient {', '.join(repr(m) for m in missing)}; nothing was stored",
                metadata={"recipient_ids": ",".join(missing)},
            )
        disabled = [i for i in request.recipient_ids if found[i].state == RecipientState.DISABLED]
        if disabled:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "RECIPIENT_DISABLED",
                f"recipient {', '.join(repr(d) for d in disabled)} is disabled; nothing was "
                "stored; enable it or leave it out",
                metadata={"recipient_ids": ",".join(disabled)},
            )
        return [found[i] for i in request.recipient_ids]

    async def GetFeedback(
        self, request: feedback_service_pb2.GetFeedbackRequest, context: Context
    ) -> feedback_service_pb2.GetFeedbackResponse:
        if not request.feedback_id:
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
                "feedback_id is required",
                [("feedback_id", "is required")],
            )
        record = await feedback_store.get_feedback_record(self._pool, request.feedback_id)
        feedback = None if record is None else feedback_pb2.Feedback.FromString(record)
        if feedback is None or not may_read(feedback.lead.source_id):
            raise not_found("feedback", request.feedback_id, "FEEDBACK_NOT_FOUND")
        deliveries = await feedback_store.deliveries_of_feedback(self._pool, request.feedback_id)
        if only_recipients() is not None:
            # Readable through the deliveries to the caller's recipients, or not at all.
            deliveries = [d for d in deliveries if may_read(recipient_id=d.recipient_id)]
            if not deliveries:
                raise not_found("feedback", request.feedback_id, "FEEDBACK_NOT_FOUND")
        events = await event_store.events_of_feedback(self._pool, request.feedback_id)
        batch_ids = {d.batch_id for d in deliveries if d.batch_id} | {
            e.batch_id for e in events if e.batch_id
        }
        batches = await batch_store.batches_by_ids(self._pool, sorted(batch_ids))
        return feedback_service_pb2.GetFeedbackResponse(
            feedback=feedback,
            deliveries=[
                delivery_message(
                    d,
                    [e for e in events if e.delivery_id == d.id],
                    batches.get(d.batch_id or _last_batch(events, d.id)),
                )
                for d in deliveries
            ],
        )

    async def ListFeedbackEvents(
        self, request: feedback_service_pb2.ListFeedbackEventsRequest, context: Context
    ) -> feedback_service_pb2.ListFeedbackEventsResponse:
        page_size = page_size_of(request.page_size)
        event_filter = readable_events(parse_event_filter(request.filter))
        after = (
            decode_page_token(request.page_token, request.filter) if request.page_token else ORIGIN
        )
        events = await event_store.read_events(self._pool, after, page_size + 1, event_filter)
        page = events[:page_size]
        return feedback_service_pb2.ListFeedbackEventsResponse(
            events=[event_message(e) for e in page],
            next_page_token=(
                encode_page_token(page[-1].position, request.filter)
                if len(events) > page_size
                else ""
            ),
        )

    async def StreamFeedbackEvents(  # type: ignore[override]  # yields serialized messages
        self, request: feedback_service_pb2.StreamFeedbackEventsRequest, context: Context
    ) -> AsyncIterator[bytes]:
        """Yields each StreamFeedbackEventsResponse serialized: an event's bytes are made
        once and shared by every stream that sends it (see event_hub). Holds one of the
        process's stream places while open (see api.stream_limits)."""
        with self._stream_settings.open_streams.holding(caller_key(context.peer())):
            event_filter = readable_events(_stream_filter(request))
            last = await self._stream_start(request)
            async with contextlib.aclosing(self._stream.run(event_filter, last)) as responses:
                async for response in responses:
                    yield response

    async def _stream_start(
        self, request: feedback_service_pb2.StreamFeedbackEventsRequest
    ) -> EventPosition:
        """Where a stream starts: after its cursor, at the beginning or now."""
        start = request.WhichOneof("start")
        if start == "after_cursor":
            last = decode_cursor(request.after_cursor, "after_cursor")
            if await event_store.position_is_in_the_future(self._pool, last):
                raise ApiError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "INVALID_ARGUMENT",
                    "after_cursor is beyond the end of the event log; it was not returned by "
                    "this service",
                    [("after_cursor", "is beyond the end of the event log")],
                )
            horizon = await event_store.retention_horizon(self._pool)
            if last < horizon:
                raise ApiError(
                    grpc.StatusCode.OUT_OF_RANGE,
                    "CURSOR_EXPIRED",
                    "after_cursor is older than the retained events; events after it were "
                    "deleted. Start from_beginning or from now.",
                    metadata={"oldest_cursor": encode_cursor(horizon)},
                )
            return last
        if start == "from_beginning":
            return ORIGIN
        return self._hub.position


def _new_feedback(
    request: feedback_service_pb2.SendFeedbackRequest,
    digest: bytes,
    recipients: list[RecipientRecord],
    directory_version: int | None,
    ring: KeyRing,
) -> NewFeedback:
    """The feedback to store for ``request``, one delivery per recipient, with the answer
    a repeat of the request will get. Its subject is sealed apart, and left out of both
    the record and the answer."""
    accept_time = datetime.now(UTC)
    accepted_at = timestamp(accept_time)
    feedback = feedback_pb2.Feedback()
    feedback.CopyFrom(request.feedback)
    feedback.id = new_id("fb")
    feedback.request_id = request.request_id
    feedback.accept_time.CopyFrom(accepted_at)
    if not feedback.HasField("feedback_time"):
        feedback.feedback_time.CopyFrom(accepted_at)
    subject = None
    if feedback.HasField("subject"):
        subject = seal_subject(ring, feedback.id, feedback.subject)
        feedback.ClearField("subject")
    deliveries = tuple(
        NewDelivery(id=new_id("dlv"), recipient_id=r.id, state=r.delivery_state) for r in recipients
    )
    response = feedback_service_pb2.SendFeedbackResponse(
        feedback=feedback,
        deliveries=[
            feedback_service_pb2.Delivery(
                id=d.id,
                feedback_id=feedback.id,
                recipient_id=d.recipient_id,
                state=DELIVERY_STATE_VALUES[d.state],
                next_attempt_time=accepted_at if d.state == DeliveryState.PENDING else None,
                create_time=accepted_at,
                update_time=accepted_at,
            )
            for d in deliveries
        ],
    )
    origin = current_trace_origin()
    return NewFeedback(
        id=feedback.id,
        request_id=request.request_id,
        request_digest=digest,
        kind=kind_name(feedback.kind),
        lead_id=feedback.lead.lead_id,
        source_id=feedback.lead.source_id,
        record=feedback.SerializeToString(deterministic=True),
        response=response.SerializeToString(deterministic=True),
        traceparent=origin.traceparent,
        accept_time=accept_time,
        deliveries=deliveries,
        directory_version=directory_version,
        origin_trace_id=origin.trace_id,
        tracestate=origin.tracestate,
        subject=subject,
        facts=feedback_facts(feedback, accept_time),
    )


def _visible(
    response: feedback_service_pb2.SendFeedbackResponse,
) -> feedback_service_pb2.SendFeedbackResponse:
    """The answer as the caller may see it: deliveries to recipients outside its grant
    (chosen by subscription) are left out."""
    if only_recipients() is None:
        return response
    kept = [d for d in response.deliveries if may_read(recipient_id=d.recipient_id)]
    if len(kept) == len(response.deliveries):
        return response
    visible = feedback_service_pb2.SendFeedbackResponse()
    visible.CopyFrom(response)
    del visible.deliveries[:]
    visible.deliveries.extend(kept)
    return visible


def _first_answer(answer: StoredAnswer, digest: bytes) -> feedback_service_pb2.SendFeedbackResponse:
    if answer.request_digest != digest:
        raise ApiError(
            grpc.StatusCode.ALREADY_EXISTS,
            "REQUEST_ID_REUSED",
            "request_id was already used for a different request; use a new request_id",
            [("request_id", "was already used for a different request")],
        )
    return feedback_service_pb2.SendFeedbackResponse.FromString(answer.response)


def _stream_filter(request: feedback_service_pb2.StreamFeedbackEventsRequest) -> EventFilter:
    f = request.filter
    statuses = []
    for status in f.processing_statuses:
        if status not in PROCESSING_STATUSES:
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
                "filter.processing_statuses holds an unknown status",
                [("filter.processing_statuses", f"{status} is not a processing status")],
            )
        statuses.append(PROCESSING_STATUSES[status])
    fields = EventFilter.where(
        recipient_id=list(f.recipient_ids),
        feedback_id=f.feedback_id or None,
        lead_id=f.lead_id or None,
        source_id=f.source_id or None,
        processing_status=statuses,
        include_operator_events=f.include_operator_events,
    )
    if not f.expression:
        return fields
    return fields.narrowed(parse_event_filter(f.expression, "filter.expression").conditions)


def _last_batch(events: list[EventRecord], delivery_id: str) -> str:
    """The batch named by a delivery's latest event (one left out of its batch's file no
    longer belongs to it, but its event names it)."""
    named = [e.batch_id for e in events if e.delivery_id == delivery_id and e.batch_id]
    return named[-1] if named else ""
