"""The feedback-sent events of batches: one per attempt of the file (feedback and lead
empty, the batch's facts filled in), and one per member feedback when its batch ends, or
when its row is left out of the file, so that each feedback's own audit trail shows the
batch that carried it."""

from __future__ import annotations

from datetime import datetime

from backchannel import __version__
from backchannel.ids import new_id
from backchannel.model import (
    ORIGIN,
    AggregationLevel,
    BatchRow,
    EventCategory,
    EventRecord,
    ProcessingStatus,
    RecipientRecord,
    operator_event,
)

#: What a finished batch's state means for its members' events.
MEMBER_STATUS = {
    "succeeded": ProcessingStatus.SUCCEEDED,
    "failed": ProcessingStatus.FAILED,
    "dead": ProcessingStatus.DEAD,
}


def batch_event(
    recipient: RecipientRecord,
    batch: BatchRow,
    *,
    delivery_id: str = "",
    feedback_id: str = "",
    lead_id: str = "",
    source_id: str = "",
    attempt: int = 0,
    status: ProcessingStatus,
    excerpt: str,
    start: datetime,
    end: datetime,
    **more: object,
) -> EventRecord:
    values: dict[str, object] = {
        "position": ORIGIN,
        "id": new_id("evt"),
        "feedback_id": feedback_id,
        "delivery_id": delivery_id,
        "attempt": attempt,
        "recipient_id": recipient.id,
        "recipient_type": recipient.recipient_type,
        "transport": recipient.transport,
        "format_name": batch.format_name,
        "content_type": batch.content_type,
        "aggregation_level": AggregationLevel.BATCH,
        "processing_status": status,
        "response_code": 0,
        "response_excerpt": excerpt,
        "remote_id": "",
        "start_time": start,
        "end_time": end,
        "latency_us": 0,
        "content_size": batch.size,
        "content_sha256": batch.sha256,
        "trace_id": "",
        "span_id": "",
        "plugin_distribution": "",
        "plugin_version": "",
        "server_version": __version__,
        "worker_id": "",
        "next_attempt_time": None,
        "lead_id": lead_id,
        "source_id": source_id,
        "batch_id": batch.id,
        "item_count": batch.row_count,
        "excluded_count": batch.excluded_count,
        "file_name": batch.file_name,
        "compression": batch.compression,
        "encryption": batch.encryption,
    }
    values.update(more)
    return EventRecord(**values)  # type: ignore[arg-type]


def held_event(
    recipient: RecipientRecord, batch: BatchRow, reason: str, now: datetime
) -> EventRecord:
    event = operator_event(
        EventCategory.BATCH_HELD,
        recipient.id,
        f"batch {batch.id} ({batch.file_name}) is held: {reason}",
        now,
        recipient_type=recipient.recipient_type,
    )
    return event._replace(batch_id=batch.id, file_name=batch.file_name)
