"""The standard OpenTelemetry environment decides how telemetry is exported; Backchannel's
own two settings only stand in where it says nothing."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from backchannel.ids import worker_id
from backchannel.telemetry_environment import (
    TelemetryConfigError,
    exporter_names,
    new_exporters,
    service_resource,
)


def test_the_standard_exporter_variable_wins_over_backchannels_setting() -> None:
    assert exporter_names("traces", "otlp", {"OTEL_TRACES_EXPORTER": "none"}) == []
    assert exporter_names("metrics", "none", {"OTEL_METRICS_EXPORTER": "console"}) == ["console"]


def test_backchannels_setting_is_the_default_and_nothing_is_exported_unconfigured() -> None:
    assert exporter_names("traces", "otlp", {}) == ["otlp_proto_grpc"]
    assert exporter_names("traces", "none", {}) == []


def test_otlp_follows_the_signals_protocol_then_the_general_one() -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
    }
    assert exporter_names("traces", "otlp", environ) == ["otlp_proto_http"]
    assert exporter_names("metrics", "otlp", environ) == ["otlp_proto_grpc"]


def test_an_unknown_protocol_or_exporter_is_a_configuration_error() -> None:
    with pytest.raises(TelemetryConfigError, match="http/json"):
        exporter_names("traces", "otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    with pytest.raises(TelemetryConfigError, match="nonesuch"):
        new_exporters("traces", "none", "", {"OTEL_TRACES_EXPORTER": "nonesuch"})


def test_several_exporters_may_be_named() -> None:
    exporters = new_exporters("traces", "none", "", {"OTEL_TRACES_EXPORTER": "console,otlp"})
    assert [type(e) for e in exporters] == [ConsoleSpanExporter, GrpcSpanExporter]


def test_backchannels_endpoint_stands_in_for_the_general_otlp_endpoint() -> None:
    environ = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    [traces] = new_exporters("traces", "otlp", "http://collector:4318/", environ)
    [metrics] = new_exporters("metrics", "otlp", "http://collector:4318", environ)
    assert isinstance(traces, HttpSpanExporter) and isinstance(metrics, HttpMetricExporter)
    assert traces._endpoint == "http://collector:4318/v1/traces"
    assert metrics._endpoint == "http://collector:4318/v1/metrics"


def test_a_standard_endpoint_variable_wins_over_backchannels_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://standard:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    [traces] = new_exporters("traces", "otlp", "http://backchannel:4318")
    assert traces._endpoint == "http://standard:4318/v1/traces"


def test_the_resource_takes_the_environments_service_name_and_attributes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "lead-feedback")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod")
    service_resource.cache_clear()
    try:
        attributes = service_resource().attributes
    finally:
        service_resource.cache_clear()
    assert attributes["service.name"] == "lead-feedback"
    assert attributes["deployment.environment.name"] == "prod"
    assert attributes["service.instance.id"] == worker_id()


def test_unconfigured_the_service_is_backchannel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    service_resource.cache_clear()
    try:
        attributes = service_resource().attributes
    finally:
        service_resource.cache_clear()
    assert attributes["service.name"] == "backchannel"
