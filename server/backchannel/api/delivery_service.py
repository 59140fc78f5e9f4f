"""backchannel.v1.DeliveryService: an operator's retry, resend and recover, each recorded
with who asked (see api.operator_identity) in the audit trail."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import asyncpg
import grpc
from backchannel_client.v1 import delivery_service_pb2, delivery_service_pb2_grpc, feedback_pb2

from backchannel.api.audit_entries import audit_entry
from backchannel.api.conversions import delivery_message
from backchannel.api.errors import ApiError, Violations, not_found
from backchannel.api.grants import may_read, only_sources, require_recipients
from backchannel.api.operator_identity import check_requested_by as _check_requested_by
from backchannel.api.operator_identity import requested_by as _requested_by
from backchannel.api.validation import RECIPIENT_ID, check_text
from backchannel.model import RecipientState
from backchannel.store import feedback as feedback_store
from backchannel.store import operator_actions
from backchannel.store import recipients as recipient_store

Context = grpc.aio.ServicerContext[Any, Any]


def _refused(error: operator_actions.ActionRefusedError) -> ApiError:
    return ApiError(grpc.StatusCode.FAILED_PRECONDITION, "ACTION_REFUSED", str(error))


class DeliveryService(delivery_service_pb2_grpc.DeliveryServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _usable_recipient(self, recipient_id: str) -> None:
        recipient = await recipient_store.get_recipient(self._pool, recipient_id)
        if recipient is None:
            raise not_found("recipient", recipient_id, "RECIPIENT_NOT_FOUND")
        if recipient.state == RecipientState.DISABLED:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "RECIPIENT_DISABLED",
                f"recipient {recipient_id!r} is disabled; enable it first",
            )

    async def RetryDelivery(
        self, request: delivery_service_pb2.RetryDeliveryRequest, context: Context
    ) -> delivery_service_pb2.RetryDeliveryResponse:
        v = Violations()
        check_text(request, "", v, max_len=200)
        if not request.delivery_id:
            v.add("delivery_id", "is required")
        _check_requested_by(request.requested_by, v)
        v.raise_if_any()
        scope = await operator_actions.delivery_scope(self._pool, request.delivery_id)
        if scope is None or not may_read(scope.source_id, scope.recipient_id):
            raise not_found("delivery", request.delivery_id, "DELIVERY_NOT_FOUND")
        requested_by, note = _requested_by(request.requested_by)
        audit = audit_entry(
            context,
            "delivery.retry",
            f"deliveries/{request.delivery_id}",
            details=note,
            recipient_id=scope.recipient_id,
            source_id=scope.source_id,
        )
        try:
            row = await operator_actions.retry_delivery(
                self._pool, request.delivery_id, requested_by, audit
            )
        except operator_actions.DeliveryMissingError as error:
            raise not_found("delivery", request.delivery_id, "DELIVERY_NOT_FOUND") from error
        except operator_actions.ActionRefusedError as error:
            raise _refused(error) from error
        return delivery_service_pb2.RetryDeliveryResponse(delivery=delivery_message(row, []))

    async def ResendFeedback(
        self, request: delivery_service_pb2.ResendFeedbackRequest, context: Context
    ) -> delivery_service_pb2.ResendFeedbackResponse:
        v = Violations()
        check_text(request, "", v, max_len=200)
        if not request.feedback_id:
            v.add("feedback_id", "is required")
        if not RECIPIENT_ID.fullmatch(request.recipient_id):
            v.add("recipient_id", "is required: a recipient id")
        _check_requested_by(request.requested_by, v)
        v.raise_if_any()
        require_recipients([request.recipient_id])
        record = await feedback_store.get_feedback_record(self._pool, request.feedback_id)
        source_id = (
            None if record is None else feedback_pb2.Feedback.FromString(record).lead.source_id
        )
        if source_id is None or not may_read(source_id):
            raise not_found("feedback", request.feedback_id, "FEEDBACK_NOT_FOUND")
        await self._usable_recipient(request.recipient_id)
        requested_by, note = _requested_by(request.requested_by)
        audit = audit_entry(
            context,
            "delivery.resend",
            f"feedback/{request.feedback_id}/recipients/{request.recipient_id}",
            details=note,
            recipient_id=request.recipient_id,
            source_id=source_id,
        )
        try:
            row = await operator_actions.resend_feedback(
                self._pool, request.feedback_id, request.recipient_id, requested_by, audit
            )
        except operator_actions.DeliveryMissingError as error:
            raise not_found("feedback", request.feedback_id, "FEEDBACK_NOT_FOUND") from error
        except operator_actions.ActionRefusedError as error:
            raise _refused(error) from error
        return delivery_service_pb2.ResendFeedbackResponse(delivery=delivery_message(row, []))

    async def RecoverDeliveries(
        self, request: delivery_service_pb2.RecoverDeliveriesRequest, context: Context
    ) -> delivery_service_pb2.RecoverDeliveriesResponse:
        v = Violations()
        check_text(request, "", v, max_len=200)
        if not RECIPIENT_ID.fullmatch(request.recipient_id):
            v.add("recipient_id", "is required: a recipient id")
        for name in ("start_time", "end_time"):
            if not request.HasField(name):
                v.add(name, "is required")
        if (
            request.HasField("start_time")
            and request.HasField("end_time")
            and request.end_time.ToDatetime() <= request.start_time.ToDatetime()
        ):
            v.add("end_time", "must be after start_time")
        _check_requested_by(request.requested_by, v)
        v.raise_if_any()
        require_recipients([request.recipient_id])
        await self._usable_recipient(request.recipient_id)
        requested_by, note = _requested_by(request.requested_by)
        start = request.start_time.ToDatetime(tzinfo=UTC)
        end = request.end_time.ToDatetime(tzinfo=UTC)
        sources = only_sources()
        details = (
            ("start_time", start.isoformat()),
            ("end_time", end.isoformat()),
            *((("source_ids", ",".join(sources)),) if sources else ()),
            *note,
        )
        audit = audit_entry(
            context,
            "delivery.recover",
            f"recipients/{request.recipient_id}",
            details=details,
            recipient_id=request.recipient_id,
        )
        count = await operator_actions.recover_deliveries(
            self._pool, request.recipient_id, start, end, requested_by, audit, sources
        )
        return delivery_service_pb2.RecoverDeliveriesResponse(recovered_count=count)
