"""OpenTelemetry set-up: a tracer provider with the configured exporter.

Spans are recorded only when something exports them. With no exporter, spans are still
started, so every RPC and attempt has trace and span ids (stored with the feedback, on
events, sent in ``traceparent``), but new traces are not sampled (flags ``00``): building
and ending a recorded span cost about a seventh of a SendFeedback call's CPU here, for
spans nobody would see. A caller's sampled trace is still continued as sampled, and
``OTEL_TRACES_SAMPLER`` (OpenTelemetry's own setting) overrides the choice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler

from backchannel import __version__


def configure_tracing(exporter: str, endpoint: str) -> TracerProvider:
    """Installs (once per process) and returns the global tracer provider."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(
        sampler=default_sampler(exporter, os.environ),
        resource=Resource.create({"service.name": "backchannel", "service.version": __version__}),
    )
    span_exporter: SpanExporter | None = None
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=endpoint)
    if span_exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    return provider


def default_sampler(exporter: str, environ: Mapping[str, str]) -> Sampler | None:
    """The sampler for ``exporter``: None (OpenTelemetry's default, or the one
    ``OTEL_TRACES_SAMPLER`` names) when spans are exported or the environment chooses;
    else new traces unsampled, callers' sampled traces continued."""
    if exporter != "none" or environ.get("OTEL_TRACES_SAMPLER"):
        return None
    return ParentBased(ALWAYS_OFF)


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
