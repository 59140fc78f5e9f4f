"""OpenTelemetry set-up: a tracer provider with the configured exporter.

Spans are recorded only when something exports them. With no exporter, spans are still
started, so every RPC and attempt has trace and span ids (stored with the feedback, on
events, sent in ``traceparent``), but new traces are not sampled (the sampled bit of
their flags is clear): building and ending a recorded span cost about a seventh of a
SendFeedback call's CPU here, for spans nobody would see. A caller's sampled trace is
still continued as sampled, and ``OTEL_TRACES_SAMPLER`` (OpenTelemetry's own setting)
overrides the choice.

A root span such a provider would drop is made here directly (:func:`unsampled_root_span`):
the SDK's way to the same non-recording span (sampler call with the span's links and
attributes, context checks, its own metrics) cost 14.6 us per attempt alone, 4.6 us this
way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import NamedTuple

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler

from backchannel.telemetry_environment import new_exporters, service_resource

#: Makes the ids of new unsampled root spans, when this process's provider samples no new
#: trace (set by configure_tracing); None: new traces go through the SDK.
_unsampled_ids: IdGenerator | None = None


def configure_tracing(exporter: str, endpoint: str) -> TracerProvider:
    """Installs (once per process) and returns the global tracer provider, exporting as
    the OpenTelemetry environment says, ``exporter`` and ``endpoint`` (Backchannel's own
    settings) standing in where it says nothing (see telemetry_environment)."""
    global _unsampled_ids
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    span_exporters: list[SpanExporter] = new_exporters("traces", exporter, endpoint)
    sampler = default_sampler("otlp" if span_exporters else "none", os.environ)
    provider = TracerProvider(sampler=sampler, resource=service_resource())
    for span_exporter in span_exporters:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    if sampler is _NEW_TRACES_UNSAMPLED:
        _unsampled_ids = provider.id_generator
    return provider


#: The sampler of a process that exports no span: new traces unsampled, callers' traces
#: continued as they are.
_NEW_TRACES_UNSAMPLED = ParentBased(ALWAYS_OFF)


def default_sampler(exporter: str, environ: Mapping[str, str]) -> Sampler | None:
    """The sampler for ``exporter``: None (OpenTelemetry's default, or the one
    ``OTEL_TRACES_SAMPLER`` names) when spans are exported or the environment chooses;
    else new traces unsampled, callers' sampled traces continued."""
    if exporter != "none" or environ.get("OTEL_TRACES_SAMPLER"):
        return None
    return _NEW_TRACES_UNSAMPLED


def unsampled_root_span() -> trace.Span | None:
    """A new root span that records nothing, with fresh ids, exactly what the SDK would
    start for it when this process samples no new trace; None when new traces may be
    sampled (start them with a tracer then)."""
    ids = _unsampled_ids
    if ids is None:
        return None
    flags = trace.TraceFlags.RANDOM_TRACE_ID if ids.is_trace_id_random() else 0
    return trace.NonRecordingSpan(
        trace.SpanContext(
            ids.generate_trace_id(),
            ids.generate_span_id(),
            is_remote=False,
            trace_flags=trace.TraceFlags(flags),
        )
    )


class TraceOrigin(NamedTuple):
    """The current span as stored with what it accepts: its W3C ``traceparent`` and
    ``tracestate`` (None when there are none) and its trace id, hex ("" when none)."""

    traceparent: str | None
    tracestate: str | None
    trace_id: str


def current_trace_origin() -> TraceOrigin:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return TraceOrigin(None, None, "")
    trace_id = f"{context.trace_id:032x}"
    traceparent = f"00-{trace_id}-{context.span_id:016x}-{context.trace_flags:02x}"
    state = context.trace_state.to_header() if context.trace_state else None
    return TraceOrigin(traceparent, state or None, trace_id)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (what the trace-context propagator
    would write), or None when there is no valid span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def span_context_of(traceparent: str | None) -> trace.SpanContext | None:
    """The remote span a stored ``traceparent`` (version 00, as written by
    :func:`current_traceparent`) names, or None if it names none."""
    match = _TRACEPARENT.fullmatch(traceparent or "")
    if match is None:
        return None
    context = trace.SpanContext(
        trace_id=int(match[1], 16),
        span_id=int(match[2], 16),
        is_remote=True,
        trace_flags=trace.TraceFlags(int(match[3], 16)),
    )
    return context if context.is_valid else None
