"""A small OpenTelemetry collector, as a user's backend would receive Backchannel's
telemetry: the OTLP services over gRPC (TraceService, MetricsService, LogsService) or
OTLP/HTTP with protobuf bodies (POST /v1/traces, /v1/metrics, /v1/logs, gzip or not),
on loopback, built on the ``opentelemetry-proto`` messages. It keeps every span and log
record with its resource, and the latest export of every metric per exporting process
(its ``service.instance.id``).
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import grpc
from aiohttp import web
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

Protocol = Literal["grpc", "http/protobuf"]
Attributes = frozenset[tuple[str, Any]]


def attributes_of(pairs: Any) -> dict[str, Any]:
    """OTLP key-values as a plain dict."""
    return {kv.key: _plain(kv.value) for kv in pairs}


def _plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@dataclass
class Received:
    """One span or log record and the resource of the process that sent it."""

    resource: dict[str, Any]
    item: Any

    @property
    def attributes(self) -> dict[str, Any]:
        return attributes_of(self.item.attributes)


@dataclass
class OtlpCollector:
    spans: list[Received] = field(default_factory=list)
    logs: list[Received] = field(default_factory=list)
    #: (service.instance.id, metric name) -> the latest export of it.
    latest: dict[tuple[str, str], Metric] = field(default_factory=dict)
    #: service.instance.id -> the resource attributes its metrics came with.
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    exports: int = 0
    endpoint: str = ""

    # --- what arrives -------------------------------------------------------------------

    def take_traces(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        self.exports += 1
        for resource_spans in request.resource_spans:
            resource = attributes_of(resource_spans.resource.attributes)
            for scope in resource_spans.scope_spans:
                self.spans += [Received(resource, span) for span in scope.spans]

    def take_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        self.exports += 1
        for resource_metrics in request.resource_metrics:
            resource = attributes_of(resource_metrics.resource.attributes)
            instance = str(resource.get("service.instance.id", ""))
            self.resources[instance] = resource
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    self.latest[(instance, metric.name)] = metric

    def take_logs(self, request: logs_service_pb2.ExportLogsServiceRequest) -> None:
        self.exports += 1
        for resource_logs in request.resource_logs:
            resource = attributes_of(resource_logs.resource.attributes)
            for scope in resource_logs.scope_logs:
                self.logs += [Received(resource, record) for record in scope.log_records]

    # --- what a test asks ---------------------------------------------------------------

    def spans_named(self, name: str) -> list[Received]:
        return [s for s in self.spans if s.item.name == name]

    def log_records(self, contains: str) -> list[Received]:
        return [r for r in self.logs if contains in _log_body(r.item)]

    def points(self, name: str, instance: str | None = None) -> dict[Attributes, float]:
        """The latest value of each series of ``name`` (a histogram's: its count), summed
        over the exporting processes, or of ``instance`` only."""
        totals: dict[Attributes, float] = {}
        for (exporter, metric_name), metric in self.latest.items():
            if metric_name != name or instance not in (None, exporter):
                continue
            for key, value in metric_points(metric).items():
                totals[key] = totals.get(key, 0) + value
        return totals

    def all_points(self) -> dict[str, dict[Attributes, float]]:
        return {name: self.points(name) for name in sorted({n for _, n in self.latest})}

    def value(self, name: str, **attributes: Any) -> float:
        """The sum over the series of ``name`` whose attributes include ``attributes``
        (named without their ``backchannel.`` prefix)."""
        wanted = {(f"backchannel.{k}", v) for k, v in attributes.items()}
        return sum(v for key, v in self.points(name).items() if wanted <= key)

    def instance_of(self, pid: int) -> str:
        [instance] = [i for i in self.resources if i.endswith(f":{pid}")]
        return instance


def _log_body(record: LogRecord) -> str:
    return str(_plain(record.body))


def metric_points(metric: Metric) -> dict[Attributes, float]:
    kind = metric.WhichOneof("data")
    if kind == "histogram":
        return {
            frozenset(attributes_of(p.attributes).items()): p.count
            for p in metric.histogram.data_points
        }
    data = getattr(metric, kind)
    return {
        frozenset(attributes_of(p.attributes).items()): (
            p.as_int if p.HasField("as_int") else p.as_double
        )
        for p in data.data_points
    }


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, collector: OtlpCollector) -> None:
        self._collector = collector

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self._collector.take_traces(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, collector: OtlpCollector) -> None:
        self._collector = collector

    async def Export(
        self,
        request: metrics_service_pb2.ExportMetricsServiceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        self._collector.take_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, collector: OtlpCollector) -> None:
        self._collector = collector

    async def Export(
        self,
        request: logs_service_pb2.ExportLogsServiceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        self._collector.take_logs(request)
        return logs_service_pb2.ExportLogsServiceResponse()


@contextlib.asynccontextmanager
async def grpc_collector() -> AsyncIterator[OtlpCollector]:
    collector = OtlpCollector()
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(collector), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(collector), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(collector), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    collector.endpoint = f"http://127.0.0.1:{port}"
    try:
        yield collector
    finally:
        await server.stop(None)


def _http_route(
    message: type[Message], take: Callable[[Any], None], answer: type[Message]
) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/x-protobuf":
            return web.Response(status=415)
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        take(message.FromString(body))
        return web.Response(
            body=answer().SerializeToString(), content_type="application/x-protobuf"
        )

    return handle


@contextlib.asynccontextmanager
async def http_collector() -> AsyncIterator[OtlpCollector]:
    collector = OtlpCollector()
    app = web.Application()
    app.router.add_post(
        "/v1/traces",
        _http_route(
            trace_service_pb2.ExportTraceServiceRequest,
            collector.take_traces,
            trace_service_pb2.ExportTraceServiceResponse,
        ),
    )
    app.router.add_post(
        "/v1/metrics",
        _http_route(
            metrics_service_pb2.ExportMetricsServiceRequest,
            collector.take_metrics,
            metrics_service_pb2.ExportMetricsServiceResponse,
        ),
    )
    app.router.add_post(
        "/v1/logs",
        _http_route(
            logs_service_pb2.ExportLogsServiceRequest,
            collector.take_logs,
            logs_service_pb2.ExportLogsServiceResponse,
        ),
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    collector.endpoint = f"http://127.0.0.1:{port}"
    try:
        yield collector
    finally:
        await runner.cleanup()


def otlp_collector(protocol: Protocol) -> contextlib.AbstractAsyncContextManager[OtlpCollector]:
    """A collector taking OTLP over ``protocol``; its ``endpoint`` is the base URL to give
    ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
    return grpc_collector() if protocol == "grpc" else http_collector()


__all__ = ["OtlpCollector", "Received", "Span", "attributes_of", "otlp_collector"]
