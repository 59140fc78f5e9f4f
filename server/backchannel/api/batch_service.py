"""backchannel.v1.BatchService: an operator's view of batch files, and running or retrying
one now.

Access: a caller narrowed to recipients reaches only those recipients' batches (others
read as not found); one narrowed to sources sees only its sources' items of a batch, and
may not run or retry a batch (a file carries every source its recipient hears). Runs and
retries are recorded with who asked (api.operator_identity) in the audit trail, in the
transaction that makes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
from backchannel_client.v1 import batch_service_pb2, batch_service_pb2_grpc

from backchannel.api.audit_entries import audit_entry
from backchannel.api.conversions import DELIVERY_STATE_VALUES, batch_message, event_message
from backchannel.api.errors import ApiError, Violations, not_found
from backchannel.api.grants import grant, may_read, require_recipients
from backchannel.api.operator_identity import check_requested_by, requested_by
from backchannel.api.validation import RECIPIENT_ID, check_text
from backchannel.batch.builder import BatchBuilder
from backchannel.model import DeliveryState, RecipientRecord, RecipientState
from backchannel.store import batches as batch_store
from backchannel.store import recipients as recipient_store
from backchannel.store.events import event_from_row
from backchannel.store.queries import execute

Context = grpc.aio.ServicerContext[Any, Any]
_BATCH_ID_MAX = 64


def _page(value: int, default: int, most: int) -> int:
    return default if value <= 0 else min(value, most)


def _require_every_source() -> None:
    """A batch file carries every source its recipient hears: a caller narrowed to some
    sources may not make or resend one."""
    if grant().source_ids:
        raise ApiError(
            grpc.StatusCode.PERMISSION_DENIED,
            "SOURCE_NOT_GRANTED",
            "a caller narrowed to sources may not run or retry a batch: a batch file "
            "carries every source its recipient hears",
        )


def _check_batch_id(batch_id: str, v: Violations) -> None:
    if not batch_id:
        v.add("batch_id", "is required")
    elif len(batch_id) > _BATCH_ID_MAX:
        v.add("batch_id", f"must be at most {_BATCH_ID_MAX} characters")


class BatchService(batch_service_pb2_grpc.BatchServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        # Builds happen in a delivery process; the API only previews.
        self._builder = BatchBuilder(pool, signing_key=None)

    async def _batch_recipient(self, recipient_id: str) -> RecipientRecord:
        recipient = await recipient_store.get_recipient(self._pool, recipient_id)
        if recipient is None:
            raise not_found("recipient", recipient_id, "RECIPIENT_NOT_FOUND")
        if recipient.batch is None:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "NOT_A_BATCH_RECIPIENT",
                f"recipient {recipient_id!r} takes feedback individually, not in batches",
            )
        return recipient

    async def ListBatches(
        self, request: batch_service_pb2.ListBatchesRequest, context: Context
    ) -> batch_service_pb2.ListBatchesResponse:
        v = Violations()
        check_text(request, "", v, max_len=200)
        if not RECIPIENT_ID.fullmatch(request.recipient_id):
            v.add("recipient_id", "is required: a recipient id")
        before = 2**62
        if request.page_token:
            if not request.page_token.isdigit() or len(request.page_token) > 18:
                v.add("page_token", "is not a token returned by ListBatches")
            else:
                before = int(request.page_token)
        v.raise_if_any()
        require_recipients([request.recipient_id])
        await self._batch_recipient(request.recipient_id)
        size = _page(request.page_size, 50, 500)
        found = await batch_store.list_batches(self._pool, request.recipient_id, before, size + 1)
        page = found[:size]
        return batch_service_pb2.ListBatchesResponse(
            batches=[batch_message(b) for b in page],
            next_page_token=str(page[-1].sequence) if len(found) > size else "",
        )

    async def GetBatch(
        self, request: batch_service_pb2.GetBatchRequest, context: Context
    ) -> batch_service_pb2.GetBatchResponse:
        v = Violations()
        check_text(request, "", v, max_len=200)
        _check_batch_id(request.batch_id, v)
        v.raise_if_any()
        batch = await batch_store.get_batch(self._pool, request.batch_id)
        if batch is None or not may_read(recipient_id=batch.recipient_id):
            raise not_found("batch", request.batch_id, "BATCH_NOT_FOUND")
        items = await batch_store.batch_items(
            self._pool, batch.id, _page(request.item_limit, 100, 1000)
        )
        attempts = await batch_store.batch_attempt_events(self._pool, batch.id)
        return batch_service_pb2.GetBatchResponse(
            batch=batch_message(batch),
            items=[
                batch_service_pb2.BatchItem(
                    feedback_id=row["feedback_id"],
                    delivery_id=row["id"],
                    lead_id=row["lead_id"],
                    state=DELIVERY_STATE_VALUES[DeliveryState(row["state"])],
                )
                for row in items
                if may_read(source_id=row["source_id"])
            ],
            attempts=[event_message(event_from_row(row)) for row in attempts],
        )

    async def RunBatch(
        self, request: batch_service_pb2.RunBatchRequest, context: Context
    ) -> batch_service_pb2.RunBatchResponse:
        v = Violations()
        check_text(request, "", v, max_len=200)
        if not RECIPIENT_ID.fullmatch(request.recipient_id):
            v.add("recipient_id", "is required: a recipient id")
        if not 0 <= request.preview_rows <= 100:
            v.add("preview_rows", "must be from 0 (default 10) to 100")
        if not request.dry_run:
            check_requested_by(request.requested_by, v)
        v.raise_if_any()
        require_recipients([request.recipient_id])
        _require_every_source()
        recipient = await self._batch_recipient(request.recipient_id)
        if request.dry_run:
            preview = await self._builder.preview(recipient, request.preview_rows or 10)
            return batch_service_pb2.RunBatchResponse(
                file_name=preview.file_name,
                preview_rows=preview.lines,
                row_count=preview.row_count,
            )
        if recipient.state != RecipientState.ACTIVE:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "RECIPIENT_NOT_ACTIVE",
                f"recipient {recipient.id!r} is {recipient.state}; resume or enable it first",
            )
        now = datetime.now(UTC)
        who, note = requested_by(request.requested_by)
        # Lease 0: a delivery process builds it at once (its lease is already over).
        taken = await self._builder.take(
            recipient,
            period_start=None,
            period_end=now,
            run_time=now,
            requested_by=who,
            lease_seconds=0,
            audit=audit_entry(
                context,
                "batch.run",
                f"recipients/{recipient.id}",
                details=note,
                recipient_id=recipient.id,
            ),
        )
        if taken is None:
            return batch_service_pb2.RunBatchResponse()
        await execute(self._pool, "notify_deliveries_due")
        batch = await batch_store.get_batch(self._pool, taken.batch_id)
        assert batch is not None
        return batch_service_pb2.RunBatchResponse(batch=batch_message(batch))

    async def RetryBatch(
        self, request: batch_service_pb2.RetryBatchRequest, context: Context
    ) -> batch_service_pb2.RetryBatchResponse:
        v = Violations()
        check_text(request, "", v, max_len=200)
        _check_batch_id(request.batch_id, v)
        check_requested_by(request.requested_by, v)
        v.raise_if_any()
        _require_every_source()
        found = await batch_store.get_batch(self._pool, request.batch_id)
        if found is None or not may_read(recipient_id=found.recipient_id):
            raise not_found("batch", request.batch_id, "BATCH_NOT_FOUND")
        who, note = requested_by(request.requested_by)
        audit = audit_entry(
            context,
            "batch.retry",
            f"batches/{request.batch_id}",
            details=note,
            recipient_id=found.recipient_id,
        )
        try:
            batch = await batch_store.retry_batch(self._pool, request.batch_id, who, audit)
        except batch_store.BatchRefusedError as error:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION, "ACTION_REFUSED", str(error)
            ) from error
        if batch is None:
            raise not_found("batch", request.batch_id, "BATCH_NOT_FOUND")
        await execute(self._pool, "notify_deliveries_due")
        return batch_service_pb2.RetryBatchResponse(batch=batch_message(batch))
