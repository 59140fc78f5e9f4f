"""One attempt of a batch file: the spooled bytes streamed through the recipient's
transport (``send_file``), and what came of it: an event, the batch's next state."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from backchannel.batch.config import batch_config
from backchannel.batch.events import batch_event
from backchannel.delivery.attempt import AttemptSettings
from backchannel.delivery.reported_facts import reported_facts
from backchannel.delivery.retry_policy import RetryPolicy, next_step
from backchannel.model import AttemptOutcome, BatchState, ClaimedBatch, DeliveryState
from backchannel.plugin import CompanionFile, DeliveryResult, OutboundFile
from backchannel.plugin_host import LoadedPlugins
from backchannel.recipient_transport import PreparedRecipients
from backchannel.store import spool
from backchannel.telemetry import current_traceparent

#: A file transmission may take its transport's deadline plus this long per megabyte.
SECONDS_PER_MEGABYTE = 1.0

BATCH_STATES = {
    DeliveryState.SUCCEEDED: BatchState.SUCCEEDED,
    DeliveryState.FAILED: BatchState.FAILED,
    DeliveryState.DEAD: BatchState.DEAD,
    DeliveryState.PENDING: BatchState.PENDING,
}


@dataclass(frozen=True)
class BatchAttempt:
    outcome: AttemptOutcome
    state: BatchState
    reason: str


def spooled_file(
    pool: asyncpg.Pool, claimed: ClaimedBatch, companions: tuple[CompanionFile, ...], part_size: int
) -> OutboundFile:
    batch = claimed.batch

    def open_stream() -> AsyncIterator[bytes]:
        return spool.read(pool, claimed.spool_oid, batch.size)

    return OutboundFile(
        batch_id=batch.id,
        recipient_id=batch.recipient_id,
        attempt=batch.attempt_count,
        name=batch.file_name,
        content_type=batch.content_type,
        size=batch.size,
        sha256=batch.sha256,
        open=open_stream,
        companions=companions,
        item_count=batch.row_count,
        part_size=part_size,
        traceparent=current_traceparent(),
    )


async def perform_batch_attempt(
    pool: asyncpg.Pool,
    claimed: ClaimedBatch,
    plugins: LoadedPlugins,
    settings: AttemptSettings,
    prepared_recipients: PreparedRecipients,
) -> BatchAttempt:
    recipient, batch = claimed.recipient, claimed.batch
    assert recipient.batch is not None
    config = batch_config(recipient.batch)
    start_wall = datetime.now(UTC)
    started = time.perf_counter()
    distribution = version = ""
    with trace.get_tracer("backchannel.batch").start_as_current_span(
        "backchannel.send_batch",
        kind=SpanKind.CLIENT,
        attributes={
            "backchannel.batch_id": batch.id,
            "backchannel.recipient_id": recipient.id,
            "backchannel.transport": recipient.transport,
            "backchannel.attempt": batch.attempt_count,
        },
    ) as span:
        transport = plugins.transports.get(recipient.transport)
        if transport is None:
            result = DeliveryResult(
                succeeded=False,
                retryable=True,
                response_excerpt=f"transport {recipient.transport!r} is not installed here",
            )
        elif (
            config.max_file_bytes
            and batch.size > config.max_file_bytes
            and not (config.split_oversize and transport.splits_files)
        ):
            result = DeliveryResult(
                succeeded=False,
                response_excerpt=(
                    f"the file is {batch.size} bytes, over the recipient's max_file_bytes "
                    f"({config.max_file_bytes}); allow split_oversize or raise the limit"
                ),
            )
        else:
            origin = plugins.origin_of_transport(recipient.transport)
            distribution, version = origin.distribution, origin.version
            companions = await _companions(pool, claimed)
            part_size = config.max_file_bytes if config.split_oversize else 0
            prepared = prepared_recipients.get(recipient, transport)
            deadline = settings.send_deadline + SECONDS_PER_MEGABYTE * batch.size / 1e6
            result = await prepared.send_file(
                spooled_file(pool, claimed, companions, part_size), deadline
            )
        if not result.succeeded:
            span.set_status(Status(StatusCode.ERROR, result.response_excerpt))
        context = span.get_span_context()
    end_wall = datetime.now(UTC)
    policy = RetryPolicy.for_recipient(
        recipient, settings.retry_schedule, settings.throttle_min_delay
    )
    step = next_step(
        batch.attempt_count - claimed.policy_attempt_offset,
        result,
        policy,
        end_wall,
        claimed.policy_start_time,
    )
    reported = reported_facts(result)
    event = batch_event(
        recipient,
        batch,
        attempt=batch.attempt_count,
        status=step.processing_status,
        excerpt=result.response_excerpt,
        start=start_wall,
        end=end_wall,
        response_code=result.remote_code or 0,
        remote_id=result.remote_id or "",
        latency_us=int((time.perf_counter() - started) * 1_000_000),
        trace_id=format(context.trace_id, "032x") if context.is_valid else "",
        span_id=format(context.span_id, "016x") if context.is_valid else "",
        plugin_distribution=distribution,
        plugin_version=version,
        worker_id=settings.worker_id,
        next_attempt_time=step.next_attempt_time,
        requested_by=claimed.requested_by,
        transmitted_size=reported.transmitted_size,
        transmitted_sha256=reported.transmitted_sha256,
        details=reported.details,
    )
    outcome = AttemptOutcome(
        event=event,
        lease_token=claimed.lease_token,
        new_state=step.delivery_state,
        next_attempt_time=step.next_attempt_time,
        recipient_gone=result.gone,
    )
    state = BATCH_STATES[step.delivery_state]
    reason = "" if result.succeeded else result.response_excerpt
    return BatchAttempt(outcome, state, reason)


async def _companions(pool: asyncpg.Pool, claimed: ClaimedBatch) -> tuple[CompanionFile, ...]:
    found: list[CompanionFile] = []
    if claimed.manifest_oid is not None and claimed.manifest_name:
        manifest = b"".join(
            [chunk async for chunk in spool.read(pool, claimed.manifest_oid, 1 << 20, exact=False)]
        )
        found.append(CompanionFile(claimed.manifest_name, manifest, "application/json"))
    if claimed.done_name:
        found.append(CompanionFile(claimed.done_name, b"", "application/octet-stream"))
    return tuple(found)
