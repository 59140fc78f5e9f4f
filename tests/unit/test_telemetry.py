"""Which sampler the tracer provider gets: spans are recorded only when exported."""

from __future__ import annotations

from opentelemetry.sdk.trace.sampling import ParentBased

from backchannel.telemetry import default_sampler


def test_with_no_exporter_new_traces_are_not_sampled_and_callers_traces_are_continued() -> None:
    sampler = default_sampler("none", {})
    assert isinstance(sampler, ParentBased)
    assert sampler.get_description() == (
        "ParentBased{root:AlwaysOffSampler,remoteParentSampled:AlwaysOnSampler,"
        "remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,"
        "localParentNotSampled:AlwaysOffSampler}"
    )


def test_an_exporter_keeps_opentelemetrys_own_default() -> None:
    assert default_sampler("otlp", {}) is None
    assert default_sampler("console", {}) is None


def test_otel_traces_sampler_in_the_environment_decides() -> None:
    assert default_sampler("none", {"OTEL_TRACES_SAMPLER": "always_on"}) is None
