"""What the standard OpenTelemetry environment says about exporting, with Backchannel's own
two settings as defaults only; and the one Resource every signal of a process carries.

Which exporters a signal uses, in order of precedence:

1. ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` / ``OTEL_LOGS_EXPORTER``
   (comma-separated names, ``none`` for none), as the SDK's own configurator reads them:
   ``otlp`` means OTLP over the protocol ``OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`` or
   ``OTEL_EXPORTER_OTLP_PROTOCOL`` names (``grpc``, the default, or ``http/protobuf``);
   any other name is looked up in the SDK's entry-point groups
   (``opentelemetry_traces_exporter``...), so ``console`` works and so does any exporter
   package installed beside Backchannel;
2. ``BACKCHANNEL_OTEL_EXPORTER`` (``none``, ``console`` or ``otlp``), for traces and
   metrics only: logs are exported only when ``OTEL_LOGS_EXPORTER`` asks;
3. nothing: unlike the SDK's default (``otlp``), a server nobody configured sends no
   telemetry anywhere.

Where OTLP goes: the exporters read ``OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`` and
``OTEL_EXPORTER_OTLP_ENDPOINT`` (and their headers, timeouts, certificates...)
themselves; only when neither is set does ``BACKCHANNEL_OTEL_ENDPOINT`` stand in for
``OTEL_EXPORTER_OTLP_ENDPOINT`` (for HTTP, the signal's path ``/v1/traces``... is appended,
as the SDK does); else the SDK's default (``localhost:4317`` for gRPC, ``:4318`` for HTTP).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Literal

from opentelemetry.sdk.resources import OTELResourceDetector, Resource

from backchannel import __version__
from backchannel.ids import worker_id

Signal = Literal["traces", "metrics", "logs"]

_OTLP_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
_OTLP_NAMES = frozenset(("otlp", *_OTLP_BY_PROTOCOL.values()))


class TelemetryConfigError(Exception):
    """The environment names an exporter or protocol that is not available."""


def exporter_names(signal: Signal, default: str, environ: Mapping[str, str]) -> list[str]:
    """The entry-point names of ``signal``'s exporters (``otlp`` resolved to
    ``otlp_proto_grpc`` or ``otlp_proto_http`` by the configured protocol); empty for
    none. ``default`` (Backchannel's own setting) applies when the standard variable is
    absent."""
    names = environ.get(f"OTEL_{signal.upper()}_EXPORTER") or default
    if names.strip().lower() in ("", "none"):
        return []
    return [_resolved(name.strip(), signal, environ) for name in names.split(",") if name.strip()]


def _resolved(name: str, signal: Signal, environ: Mapping[str, str]) -> str:
    if name != "otlp":
        return name
    protocol = (
        environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    if protocol not in _OTLP_BY_PROTOCOL:
        raise TelemetryConfigError(
            f"OTLP protocol {protocol!r} is not supported: use grpc or http/protobuf"
        )
    return _OTLP_BY_PROTOCOL[protocol]


def new_exporters(
    signal: Signal, default: str, default_endpoint: str, environ: Mapping[str, str] | None = None
) -> list[Any]:
    """New instances of ``signal``'s exporters (see the module's docstring)."""
    environ = os.environ if environ is None else environ
    exporters = []
    for name in exporter_names(signal, default, environ):
        found = list(entry_points(group=f"opentelemetry_{signal}_exporter", name=name))
        if not found:
            raise TelemetryConfigError(f"no {signal} exporter named {name!r} is installed")
        options: dict[str, str] = {}
        endpoint = _fallback_endpoint(signal, name, default_endpoint, environ)
        if endpoint:
            options["endpoint"] = endpoint
        exporters.append(found[0].load()(**options))
    return exporters


def _fallback_endpoint(
    signal: Signal, name: str, default_endpoint: str, environ: Mapping[str, str]
) -> str:
    """``BACKCHANNEL_OTEL_ENDPOINT`` as the OTLP exporter of ``name`` takes it, when no
    standard endpoint variable is set; else empty (the exporter reads its own)."""
    standard = (f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    if name not in _OTLP_NAMES or not default_endpoint or any(environ.get(v) for v in standard):
        return ""
    if name == _OTLP_BY_PROTOCOL["http/protobuf"]:
        return f"{default_endpoint.rstrip('/')}/v1/{signal}"
    return default_endpoint


@functools.cache
def service_resource() -> Resource:
    """The Resource of this process's traces, metrics and logs, built once:
    ``service.name`` ``backchannel`` and ``service.version`` unless ``OTEL_SERVICE_NAME``
    or ``OTEL_RESOURCE_ATTRIBUTES`` say otherwise (the environment wins), and always
    ``service.instance.id`` = the worker id its events carry (``host:pid``), so each
    process's series stay apart and a span, a metric point, a log line and an event of one
    process name it alike."""
    defaults = Resource.create({"service.name": "backchannel", "service.version": __version__})
    return defaults.merge(OTELResourceDetector().detect()).merge(
        Resource({"service.instance.id": worker_id()})
    )
