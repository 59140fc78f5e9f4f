"""One attempt of a report run: its stored bytes handed to the recipient's transport as a
file (``send_file``: a webhook POSTs it, SFTP writes it, email shows an HTML report as the
message), and what came of it: a feedback-sent event at the summary level and the run's
next state under the recipient's retry policy."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from backchannel import __version__
from backchannel.delivery.attempt import AttemptSettings
from backchannel.delivery.retry_policy import RetryPolicy, next_step
from backchannel.ids import new_id
from backchannel.model import (
    ORIGIN,
    AggregationLevel,
    AttemptOutcome,
    DeliveryState,
    EventRecord,
    RecipientRecord,
    ReportRunState,
)
from backchannel.plugin import CompanionFile, DeliveryResult, OutboundFile
from backchannel.plugin_host import LoadedPlugins
from backchannel.recipient_transport import PreparedRecipients
from backchannel.store.reports import ClaimedRun
from backchannel.telemetry import current_traceparent

RUN_STATES = {
    DeliveryState.SUCCEEDED: ReportRunState.SUCCEEDED,
    DeliveryState.FAILED: ReportRunState.FAILED,
    DeliveryState.DEAD: ReportRunState.DEAD,
    DeliveryState.PENDING: ReportRunState.PENDING,
}


@dataclass(frozen=True)
class ReportAttempt:
    outcome: AttemptOutcome
    state: ReportRunState
    reason: str


def report_file(claimed: ClaimedRun, title: str) -> OutboundFile:
    run, content = claimed.run, claimed.content

    async def stream() -> AsyncIterator[bytes]:
        yield content

    companions: tuple[CompanionFile, ...] = ()
    if claimed.text_alternative:
        stem = run.file_name.rsplit(".", 1)[0]
        companions = (
            CompanionFile(f"{stem}.txt", claimed.text_alternative.encode(), "text/plain"),
        )
    return OutboundFile(
        batch_id=run.id,
        recipient_id=run.recipient_id,
        attempt=run.attempt_count,
        name=run.file_name,
        content_type=run.content_type,
        size=len(content),
        sha256=run.sha256,
        open=stream,
        companions=companions,
        item_count=run.feedback_count,
        traceparent=current_traceparent(),
        inline=True,
        title=title,
    )


def report_event(
    recipient: RecipientRecord, claimed: ClaimedRun, result: DeliveryResult, **facts: object
) -> EventRecord:
    """The feedback-sent event of one attempt: summary level, ``delivery_id`` the run id
    (the identity of every attempt), the report's file name, size and digest."""
    run = claimed.run
    values: dict[str, object] = {
        "position": ORIGIN,
        "id": new_id("evt"),
        "feedback_id": "",
        "delivery_id": run.id,
        "attempt": run.attempt_count,
        "recipient_id": recipient.id,
        "recipient_type": recipient.recipient_type,
        "transport": recipient.transport,
        "format_name": "report",
        "content_type": run.content_type,
        "aggregation_level": AggregationLevel.SUMMARY,
        "response_code": result.remote_code or 0,
        "response_excerpt": result.response_excerpt,
        "remote_id": result.remote_id or "",
        "content_size": run.size,
        "content_sha256": run.sha256,
        "server_version": __version__,
        "lead_id": "",
        "source_id": "",
        "requested_by": run.requested_by,
        "report_id": run.report_id,
        "period_start": run.period_start,
        "period_end": run.period_end,
        "item_count": run.feedback_count,
        "file_name": run.file_name,
    }
    values.update(facts)
    return EventRecord(**values)  # type: ignore[arg-type]


async def perform_report_attempt(
    claimed: ClaimedRun,
    recipient: RecipientRecord,
    title: str,
    plugins: LoadedPlugins,
    settings: AttemptSettings,
    prepared_recipients: PreparedRecipients,
) -> ReportAttempt:
    run = claimed.run
    start_wall = datetime.now(UTC)
    started = time.perf_counter()
    distribution = version = ""
    with trace.get_tracer("backchannel.report").start_as_current_span(
        "backchannel.send_report",
        kind=SpanKind.CLIENT,
        attributes={
            "backchannel.report_id": run.report_id,
            "backchannel.report_run_id": run.id,
            "backchannel.recipient_id": recipient.id,
            "backchannel.transport": recipient.transport,
            "backchannel.attempt": run.attempt_count,
        },
    ) as span:
        transport = plugins.transports.get(recipient.transport)
        if transport is None:
            result = DeliveryResult(
                succeeded=False,
                retryable=True,
                response_excerpt=f"transport {recipient.transport!r} is not installed here",
            )
        else:
            origin = plugins.origin_of_transport(recipient.transport)
            distribution, version = origin.distribution, origin.version
            prepared = prepared_recipients.get(recipient, transport)
            result = await prepared.send_file(report_file(claimed, title), settings.send_deadline)
        if not result.succeeded:
            span.set_status(Status(StatusCode.ERROR, result.response_excerpt))
        context = span.get_span_context()
    end_wall = datetime.now(UTC)
    policy = RetryPolicy.for_recipient(
        recipient, settings.retry_schedule, settings.throttle_min_delay
    )
    step = next_step(run.attempt_count, result, policy, end_wall, run.create_time)
    event = report_event(
        recipient,
        claimed,
        result,
        processing_status=step.processing_status,
        start_time=start_wall,
        end_time=end_wall,
        latency_us=int((time.perf_counter() - started) * 1_000_000),
        trace_id=format(context.trace_id, "032x") if context.is_valid else "",
        span_id=format(context.span_id, "016x") if context.is_valid else "",
        plugin_distribution=distribution,
        plugin_version=version,
        worker_id=settings.worker_id,
        next_attempt_time=step.next_attempt_time,
    )
    outcome = AttemptOutcome(
        event=event,
        lease_token=claimed.lease_token,
        new_state=step.delivery_state,
        next_attempt_time=step.next_attempt_time,
        recipient_gone=result.gone,
    )
    return ReportAttempt(
        outcome,
        RUN_STATES[step.delivery_state],
        "" if result.succeeded else result.response_excerpt,
    )
