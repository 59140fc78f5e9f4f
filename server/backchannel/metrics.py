"""OpenTelemetry metrics: the instruments Backchannel reports, and the meter provider that
exports them as the OpenTelemetry environment says (telemetry_environment).

What is counted is what was made durable: feedback when its statement committed, attempts
when their events were recorded. So the counts agree with the database, and a process
killed before recording counts nothing it has to do again.

- ``backchannel.feedback.stored`` (counter): new feedback stored, by its kind (a repeated
  request id stores nothing and counts nothing).
- ``backchannel.delivery.attempts`` (counter) and ``backchannel.delivery.attempt.duration``
  (histogram, seconds): every recorded transmission, by recipient id and type, transport
  and processing status (succeeded, retry_scheduled, failed, dead...).
- ``backchannel.deliveries.open`` (gauge): deliveries not finished, by state (pending,
  in_flight, held) and, for pending ones, whether they are due; read from the database
  by the serving process, every export interval.
- ``backchannel.event_streams.open`` (up-down counter): StreamFeedbackEvents calls open.
- ``rpc.server.call.duration`` (histogram, seconds, OpenTelemetry's RPC conventions):
  every call served, by ``rpc.system``, ``rpc.service``, ``rpc.method`` and
  ``rpc.grpc.status_code`` (buckets ``DURATION_BUCKETS``).
- ``backchannel.delivery.latency`` (histogram, seconds): from accepting feedback to its
  successful transmission to a recipient, recorded once per delivery that succeeds, by
  recipient id and type and transport (buckets ``LATENCY_BUCKETS``: retries stretch it
  from milliseconds to days).
- ``backchannel.recipient.circuit_state`` (gauge): each live recipient's circuit breaker,
  0 closed, 1 half-open (a probe in flight), 2 open; read from the database by the serving
  process every export interval.
- ``backchannel.deliveries.queue_lag`` (gauge, seconds): how long the oldest due pending
  delivery has been due (0 when none is): how far delivery is behind; read likewise.

The export interval is OpenTelemetry's own ``OTEL_METRIC_EXPORT_INTERVAL`` (milliseconds,
60000 unless set). With no exporter no provider is installed and every instrument is
OpenTelemetry's no-op.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.environment_variables import OTEL_METRIC_EXPORT_INTERVAL
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader

from backchannel import __version__
from backchannel.model import (
    AttemptOutcome,
    CircuitState,
    DeliveryState,
    EventCategory,
    OpenDeliveryCounts,
    ProcessingStatus,
)
from backchannel.telemetry_environment import new_exporters, service_resource

_meter = metrics.get_meter("backchannel", __version__)

_feedback_stored = _meter.create_counter(
    "backchannel.feedback.stored", unit="{feedback}", description="New feedback stored."
)
_attempts = _meter.create_counter(
    "backchannel.delivery.attempts",
    unit="{attempt}",
    description="Transmissions recorded, by outcome.",
)
#: Bucket bounds in seconds (OpenTelemetry's HTTP duration buckets): the SDK's default
#: bounds are meant for milliseconds and would put every attempt under 5 s in one bucket.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
_attempt_duration = _meter.create_histogram(
    "backchannel.delivery.attempt.duration",
    unit="s",
    description="How long each recorded transmission took.",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
)
_rpc_duration = _meter.create_histogram(
    "rpc.server.call.duration",
    unit="s",
    description="Duration of RPCs served.",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
)
#: Bucket bounds in seconds of accept-to-delivered latency: a first attempt takes
#: milliseconds, the default retry schedule reaches days.
LATENCY_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200,
    21600, 43200, 86400, 172800, 345600,
)  # fmt: skip
_delivery_latency = _meter.create_histogram(
    "backchannel.delivery.latency",
    unit="s",
    description="From accepting feedback to its successful transmission to a recipient.",
    explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
)
_streams_open = _meter.create_up_down_counter(
    "backchannel.event_streams.open",
    unit="{stream}",
    description="StreamFeedbackEvents calls open.",
)

#: The latest counts of open deliveries, by their attributes; set by the serving process.
_open_deliveries: list[Observation] = []


def _observe_open_deliveries(_options: CallbackOptions) -> Iterable[Observation]:
    return list(_open_deliveries)


_meter.create_observable_gauge(
    "backchannel.deliveries.open",
    callbacks=[_observe_open_deliveries],
    unit="{delivery}",
    description="Deliveries not finished, by state (pending ones also by whether due).",
)


#: The latest circuit state of each live recipient, and the queue lag; set by the serving
#: process.
_circuit_states: list[Observation] = []
_queue_lag: list[Observation] = []
#: The gauge's value for each circuit state.
CIRCUIT_STATE_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}

_meter.create_observable_gauge(
    "backchannel.recipient.circuit_state",
    callbacks=[lambda _options: list(_circuit_states)],
    unit="{state}",
    description="Each live recipient's circuit breaker: 0 closed, 1 half-open, 2 open.",
)
_meter.create_observable_gauge(
    "backchannel.deliveries.queue_lag",
    callbacks=[lambda _options: list(_queue_lag)],
    unit="s",
    description="How long the oldest due pending delivery has been due (0: none is).",
)


def configure_metrics(exporter: str, endpoint: str) -> MeterProvider | None:
    """Installs (once per process) a meter provider exporting as the OpenTelemetry
    environment says, ``exporter`` and ``endpoint`` standing in where it says nothing (see
    telemetry_environment); None, and nothing installed, when no exporter is chosen."""
    current = metrics.get_meter_provider()
    if isinstance(current, MeterProvider):
        return current
    exporters: list[MetricExporter] = new_exporters("metrics", exporter, endpoint)
    if not exporters:
        return None
    # Each process (serve, its delivery children, replicas) reports its own cumulative
    # series: the resource's instance id keeps them apart.
    provider = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(e) for e in exporters],
        resource=service_resource(),
    )
    metrics.set_meter_provider(provider)
    return provider


def metric_export_interval_seconds() -> float:
    """The export interval: ``OTEL_METRIC_EXPORT_INTERVAL`` milliseconds, as the SDK reads
    it (60 s when unset or not a positive number)."""
    try:
        millis = float(os.environ.get(OTEL_METRIC_EXPORT_INTERVAL, "60000"))
    except ValueError:
        millis = 60000.0
    return millis / 1000 if millis > 0 else 60.0


def metrics_exported() -> bool:
    """Whether this process reports metrics (an SDK meter provider is installed)."""
    return isinstance(metrics.get_meter_provider(), MeterProvider)


def count_stored_feedback(kinds: Iterable[str]) -> None:
    for kind in kinds:
        _feedback_stored.add(1, {"backchannel.feedback.kind": kind})


def count_recorded_attempts(outcomes: Sequence[AttemptOutcome]) -> None:
    for outcome in outcomes:
        event = outcome.event
        if event.category != EventCategory.TRANSMISSION:
            continue
        attributes = {
            "backchannel.recipient.id": event.recipient_id,
            "backchannel.recipient.type": event.recipient_type,
            "backchannel.transport": event.transport,
            "backchannel.processing_status": str(event.processing_status),
        }
        _attempts.add(1, attributes)
        _attempt_duration.record(event.latency_us / 1_000_000, attributes)


def record_rpc_duration(seconds: float, attributes: Mapping[str, str | int]) -> None:
    _rpc_duration.record(seconds, attributes)


def record_delivery_latencies(outcomes: Sequence[AttemptOutcome]) -> None:
    """Accept-to-delivered latency of each delivery ``outcomes`` completed."""
    for outcome in outcomes:
        event = outcome.event
        if event.processing_status != ProcessingStatus.SUCCEEDED or outcome.accept_time is None:
            continue
        _delivery_latency.record(
            max(0.0, (event.end_time - outcome.accept_time).total_seconds()),
            {
                "backchannel.recipient.id": event.recipient_id,
                "backchannel.recipient.type": event.recipient_type,
                "backchannel.transport": event.transport,
            },
        )


def stream_opened() -> None:
    _streams_open.add(1)


def stream_closed() -> None:
    _streams_open.add(-1)


def set_open_deliveries(counts: OpenDeliveryCounts) -> None:
    """Replaces the open-delivery counts the gauge reports (every series, zeros too)."""
    state = "backchannel.delivery.state"
    due = "backchannel.delivery.due"
    _open_deliveries[:] = [
        Observation(counts.pending_due, {state: str(DeliveryState.PENDING), due: True}),
        Observation(counts.pending_later, {state: str(DeliveryState.PENDING), due: False}),
        Observation(counts.in_flight, {state: str(DeliveryState.IN_FLIGHT)}),
        Observation(counts.held, {state: str(DeliveryState.HELD)}),
    ]
    _queue_lag[:] = [Observation(counts.oldest_due_seconds)]


def set_circuit_states(states: Mapping[str, CircuitState]) -> None:
    """Replaces the circuit states the gauge reports, by recipient id."""
    _circuit_states[:] = [
        Observation(CIRCUIT_STATE_VALUES[state], {"backchannel.recipient.id": recipient_id})
        for recipient_id, state in sorted(states.items())
    ]
