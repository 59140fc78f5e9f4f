"""Stored rows to API messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backchannel_client.v1 import (
    batch_pb2,
    event_pb2,
    feedback_pb2,
    feedback_service_pb2,
    recipient_pb2,
)
from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from backchannel.api.cursors import encode_cursor
from backchannel.api.data_policy_messages import given_policy_message, policy_message
from backchannel.batch import config as batch_settings
from backchannel.data_policy import DataPolicy
from backchannel.feedback_document import KIND_NAMES
from backchannel.model import (
    AggregationLevel,
    BatchRow,
    BatchState,
    CircuitState,
    DeliveryRow,
    DeliveryState,
    EventCategory,
    EventRecord,
    ProcessingStatus,
    RecipientHealthRecord,
    RecipientRecord,
    RecipientState,
)

RECIPIENT_TYPES = {
    recipient_pb2.RECIPIENT_TYPE_SOURCE: "source",
    recipient_pb2.RECIPIENT_TYPE_PARTNER: "partner",
    recipient_pb2.RECIPIENT_TYPE_SYSTEM: "system",
    recipient_pb2.RECIPIENT_TYPE_PLATFORM: "platform",
}
RECIPIENT_TYPE_VALUES = {name: value for value, name in RECIPIENT_TYPES.items()}

RECIPIENT_STATES = {
    recipient_pb2.RECIPIENT_STATE_ACTIVE: RecipientState.ACTIVE,
    recipient_pb2.RECIPIENT_STATE_PAUSED: RecipientState.PAUSED,
    recipient_pb2.RECIPIENT_STATE_DISABLED: RecipientState.DISABLED,
}
RECIPIENT_STATE_VALUES = {name: value for value, name in RECIPIENT_STATES.items()}

KIND_VALUES = {name: value for value, name in KIND_NAMES.items()}

PROCESSING_STATUSES = {
    event_pb2.PROCESSING_STATUS_SUCCEEDED: ProcessingStatus.SUCCEEDED,
    event_pb2.PROCESSING_STATUS_RETRY_SCHEDULED: ProcessingStatus.RETRY_SCHEDULED,
    event_pb2.PROCESSING_STATUS_FAILED: ProcessingStatus.FAILED,
    event_pb2.PROCESSING_STATUS_DEAD: ProcessingStatus.DEAD,
    event_pb2.PROCESSING_STATUS_SUPPRESSED: ProcessingStatus.SUPPRESSED,
}
PROCESSING_STATUS_VALUES = {name: value for value, name in PROCESSING_STATUSES.items()}

AGGREGATION_LEVEL_VALUES = {
    AggregationLevel.INDIVIDUAL: event_pb2.AGGREGATION_LEVEL_INDIVIDUAL,
    AggregationLevel.BATCH: event_pb2.AGGREGATION_LEVEL_BATCH,
    AggregationLevel.SUMMARY: event_pb2.AGGREGATION_LEVEL_SUMMARY,
}

DELIVERY_STATE_VALUES = {
    DeliveryState.PENDING: feedback_service_pb2.DELIVERY_STATE_PENDING,
    DeliveryState.HELD: feedback_service_pb2.DELIVERY_STATE_HELD,
    DeliveryState.IN_FLIGHT: feedback_service_pb2.DELIVERY_STATE_IN_FLIGHT,
    DeliveryState.SUCCEEDED: feedback_service_pb2.DELIVERY_STATE_SUCCEEDED,
    DeliveryState.FAILED: feedback_service_pb2.DELIVERY_STATE_FAILED,
    DeliveryState.DEAD: feedback_service_pb2.DELIVERY_STATE_DEAD,
    DeliveryState.CANCELLED: feedback_service_pb2.DELIVERY_STATE_CANCELLED,
    DeliveryState.AWAITING_BATCH: feedback_service_pb2.DELIVERY_STATE_AWAITING_BATCH,
    DeliveryState.IN_BATCH: feedback_service_pb2.DELIVERY_STATE_IN_BATCH,
    DeliveryState.SUPPRESSED: feedback_service_pb2.DELIVERY_STATE_SUPPRESSED,
}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def timestamp(value: datetime) -> Timestamp:
    """``value`` (naive means UTC) as a Timestamp; what ``Timestamp.FromDatetime`` gives, in
    integer arithmetic at half its cost (every accept and every answer makes several)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds, micros = divmod((value - _EPOCH) // _MICROSECOND, 1_000_000)
    return Timestamp(seconds=seconds, nanos=micros * 1000)


def struct(value: dict[str, Any]) -> Struct:
    result = Struct()
    json_format.ParseDict(value, result)
    return result


def recipient_message(
    record: RecipientRecord, health: RecipientHealthRecord | None = None
) -> recipient_pb2.Recipient:
    """The API view of a recipient: secret values are never included, only their names."""
    return recipient_pb2.Recipient(
        health=health_message(record, health),
        id=record.id,
        display_name=record.display_name,
        recipient_type=RECIPIENT_TYPE_VALUES.get(record.recipient_type, 0),  # type: ignore[arg-type]
        transport=record.transport,
        transport_settings=struct(record.transport_settings),
        secret_setting_names=sorted(record.sealed_secrets),
        format=record.format,
        format_options=struct(record.format_options),
        subscription=recipient_pb2.Subscription(
            kinds=[KIND_VALUES[k] for k in record.subscribed_kinds if k in KIND_VALUES],
            source_ids=list(record.subscribed_source_ids),
        ),
        state=RECIPIENT_STATE_VALUES.get(record.state, 0),  # type: ignore[arg-type]
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
        etag=f'"{record.revision}"',
        retry_policy=recipient_pb2.RetryPolicy(
            retry_delays=[_duration(s) for s in record.retry_delays or ()],
            max_attempts=record.max_attempts,
            max_age=None if record.max_age_seconds is None else _duration(record.max_age_seconds),
        ),
        limits=recipient_pb2.DeliveryLimits(
            max_per_second=record.max_per_second,
            burst=record.burst,
            max_concurrency=record.max_concurrency,
        ),
        ordered_delivery=record.ordered_delivery,
        batch=None if record.batch is None else batch_settings.message(record.batch),
        data_policy=(
            None if record.data_policy is None else given_policy_message(record.data_policy)
        ),
        required_consent_purposes=list(record.required_consent_purposes),
        effective_data_policy=policy_message(DataPolicy.stored(record.data_policy).effective),
    )


def _duration(seconds: float) -> Duration:
    result = Duration()
    result.FromNanoseconds(round(seconds * 1e9))
    return result


CIRCUIT_STATE_VALUES = {
    CircuitState.CLOSED: recipient_pb2.CIRCUIT_STATE_CLOSED,
    CircuitState.OPEN: recipient_pb2.CIRCUIT_STATE_OPEN,
    CircuitState.HALF_OPEN: recipient_pb2.CIRCUIT_STATE_HALF_OPEN,
}


def health_message(
    record: RecipientRecord, health: RecipientHealthRecord | None
) -> recipient_pb2.RecipientHealth:
    message = recipient_pb2.RecipientHealth(
        circuit_state=recipient_pb2.CIRCUIT_STATE_CLOSED, disabled_reason=record.disabled_reason
    )
    if health is not None:
        message.circuit_state = CIRCUIT_STATE_VALUES[health.circuit_state]
        message.consecutive_failures = health.consecutive_failures
        for name, value in (
            ("failing_since", health.failing_since),
            (
                "open_until",
                health.open_until if health.circuit_state != CircuitState.CLOSED else None,
            ),
            ("last_success_time", health.last_success_time),
        ):
            if value is not None:
                getattr(message, name).CopyFrom(timestamp(value))
    return message


def event_message(event: EventRecord) -> event_pb2.FeedbackSentEvent:
    latency = Duration()
    latency.FromMicroseconds(event.latency_us)
    message = event_pb2.FeedbackSentEvent(
        cursor=encode_cursor(event.position),
        event_id=event.id,
        feedback_id=event.feedback_id,
        delivery_id=event.delivery_id,
        attempt=event.attempt,
        recipient_type=RECIPIENT_TYPE_VALUES.get(event.recipient_type, 0),  # type: ignore[arg-type]
        recipient_id=event.recipient_id,
        transport=event.transport,
        data_format=event_pb2.DataFormat(name=event.format_name, content_type=event.content_type),
        aggregation_level=_aggregation_level(event.aggregation_level),
        processing_status=_processing_status(event.processing_status),
        response_status=event_pb2.ResponseStatus(
            code=event.response_code, excerpt=event.response_excerpt, remote_id=event.remote_id
        ),
        start_time=timestamp(event.start_time),
        end_time=timestamp(event.end_time),
        latency=latency,
        content_size=event.content_size,
        content_sha256=event.content_sha256,
        trace_id=event.trace_id,
        span_id=event.span_id,
        integration_context=event_pb2.IntegrationContext(
            plugin_distribution=event.plugin_distribution,
            plugin_version=event.plugin_version,
            server_version=event.server_version,
            worker_id=event.worker_id,
        ),
        lead_id=event.lead_id,
        source_id=event.source_id,
        requested_by=event.requested_by,
        origin_trace_id=event.origin_trace_id,
        details=dict(event.details),
        missing_consent_purposes=event.missing_consent.split(",") if event.missing_consent else [],
    )
    if event.transmitted_size is not None:
        message.transmitted.CopyFrom(
            event_pb2.TransmittedBytes(size=event.transmitted_size, sha256=event.transmitted_sha256)
        )
    if event.next_attempt_time is not None:
        message.next_attempt_time.CopyFrom(timestamp(event.next_attempt_time))
    if event.batch_id:
        message.batch.CopyFrom(
            event_pb2.BatchTransmission(
                batch_id=event.batch_id,
                item_count=event.item_count,
                excluded_count=event.excluded_count,
                file_name=event.file_name,
                compression=event.compression,
                encryption=event.encryption,
            )
        )
    if event.report_id:
        report = event_pb2.ReportTransmission(
            report_id=event.report_id,
            feedback_count=event.item_count,
            file_name=event.file_name,
        )
        if event.period_start is not None:
            report.period_start.CopyFrom(timestamp(event.period_start))
        if event.period_end is not None:
            report.period_end.CopyFrom(timestamp(event.period_end))
        message.report.CopyFrom(report)
    return message


def _aggregation_level(level: AggregationLevel | None) -> event_pb2.AggregationLevel.ValueType:
    if level is None:
        return event_pb2.AGGREGATION_LEVEL_UNSPECIFIED
    return AGGREGATION_LEVEL_VALUES[level]


def _processing_status(status: ProcessingStatus | None) -> event_pb2.ProcessingStatus.ValueType:
    if status is None:
        return event_pb2.PROCESSING_STATUS_UNSPECIFIED
    return PROCESSING_STATUS_VALUES[status]


OPERATOR_EVENT_TYPES = {
    EventCategory.RECIPIENT_FAILING: event_pb2.OPERATOR_EVENT_TYPE_RECIPIENT_FAILING,
    EventCategory.RECIPIENT_RECOVERED: event_pb2.OPERATOR_EVENT_TYPE_RECIPIENT_RECOVERED,
    EventCategory.CIRCUIT_OPENED: event_pb2.OPERATOR_EVENT_TYPE_CIRCUIT_OPENED,
    EventCategory.CIRCUIT_CLOSED: event_pb2.OPERATOR_EVENT_TYPE_CIRCUIT_CLOSED,
    EventCategory.DELIVERY_EXHAUSTED: event_pb2.OPERATOR_EVENT_TYPE_DELIVERY_EXHAUSTED,
    EventCategory.RECIPIENT_DISABLED: event_pb2.OPERATOR_EVENT_TYPE_RECIPIENT_DISABLED,
    EventCategory.RECIPIENT_ENABLED: event_pb2.OPERATOR_EVENT_TYPE_RECIPIENT_ENABLED,
    EventCategory.BATCH_HELD: event_pb2.OPERATOR_EVENT_TYPE_BATCH_HELD,
}


def operator_event_message(event: EventRecord) -> event_pb2.OperatorEvent:
    return event_pb2.OperatorEvent(
        cursor=encode_cursor(event.position),
        event_id=event.id,
        type=OPERATOR_EVENT_TYPES.get(event.category, 0),  # type: ignore[arg-type]
        recipient_id=event.recipient_id,
        delivery_id=event.delivery_id,
        feedback_id=event.feedback_id,
        message=event.message,
        time=timestamp(event.start_time),
    )


def stream_item(event: EventRecord) -> feedback_service_pb2.StreamFeedbackEventsResponse:
    if event.category == EventCategory.TRANSMISSION:
        return feedback_service_pb2.StreamFeedbackEventsResponse(event=event_message(event))
    return feedback_service_pb2.StreamFeedbackEventsResponse(
        operator_event=operator_event_message(event)
    )


def delivery_message(
    row: DeliveryRow, attempts: list[EventRecord], batch: BatchRow | None = None
) -> feedback_service_pb2.Delivery:
    message = feedback_service_pb2.Delivery(
        id=row.id,
        feedback_id=row.feedback_id,
        recipient_id=row.recipient_id,
        state=DELIVERY_STATE_VALUES.get(row.state, 0),  # type: ignore[arg-type]
        attempt_count=row.attempt_count,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        attempts=[event_message(e) for e in attempts],
    )
    if row.state == DeliveryState.PENDING:
        message.next_attempt_time.CopyFrom(timestamp(row.next_attempt_time))
    if batch is not None:
        message.batch.CopyFrom(batch_message(batch))
    return message


BATCH_STATE_VALUES = {
    BatchState.BUILDING: batch_pb2.BATCH_STATE_BUILDING,
    BatchState.PENDING: batch_pb2.BATCH_STATE_PENDING,
    BatchState.IN_FLIGHT: batch_pb2.BATCH_STATE_IN_FLIGHT,
    BatchState.SUCCEEDED: batch_pb2.BATCH_STATE_SUCCEEDED,
    BatchState.FAILED: batch_pb2.BATCH_STATE_FAILED,
    BatchState.DEAD: batch_pb2.BATCH_STATE_DEAD,
    BatchState.HELD: batch_pb2.BATCH_STATE_HELD,
    BatchState.CANCELLED: batch_pb2.BATCH_STATE_CANCELLED,
}


def batch_message(batch: BatchRow) -> batch_pb2.Batch:
    message = batch_pb2.Batch(
        id=batch.id,
        recipient_id=batch.recipient_id,
        sequence=batch.sequence,
        state=BATCH_STATE_VALUES[batch.state],
        period_end=timestamp(batch.period_end),
        run_time=timestamp(batch.run_time),
        attempt_count=batch.attempt_count,
        file_name=batch.file_name,
        content_type=batch.content_type,
        size=batch.size,
        sha256=batch.sha256,
        row_count=batch.row_count,
        excluded_count=batch.excluded_count,
        excluded=[
            batch_pb2.ExcludedRow(feedback_id=feedback_id, reason=reason)
            for feedback_id, reason in batch.excluded
        ],
        create_time=timestamp(batch.create_time),
        update_time=timestamp(batch.update_time),
        reason=batch.reason,
    )
    if batch.period_start is not None:
        message.period_start.CopyFrom(timestamp(batch.period_start))
    if batch.state == BatchState.PENDING:
        message.next_attempt_time.CopyFrom(timestamp(batch.next_attempt_time))
    return message


def kind_name(kind: feedback_pb2.FeedbackKind.ValueType) -> str:
    return KIND_NAMES[kind]
