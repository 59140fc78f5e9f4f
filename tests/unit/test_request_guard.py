"""The request guard refuses, in any request message, NUL characters in text and map keys,
non-finite numbers (inside free-form structs too), out-of-range timestamps and durations,
too many entries in a list or map and too many bytes, each named by its field path, all
at once; and lets through what is fine, whether or not its quick screens fire."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from backchannel_client.v1 import (
    delivery_service_pb2,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
)
from google.protobuf.message import Message
from support.brief_example import brief_example_feedback

from backchannel.api.errors import ApiError
from backchannel.api.request_guard import RequestGuard, RequestLimits

Request = feedback_service_pb2.SendFeedbackRequest


def refused(request: Message, limits: RequestLimits | None = None) -> list[str]:
    try:
        RequestGuard(limits).check(request, request.ByteSize())
    except ApiError as error:
        assert error.code.name == "INVALID_ARGUMENT"
        return [field for field, _ in error.violations]
    return []


def send(change: Callable[[Request], object] = lambda _: None) -> Request:
    request = Request(request_id="r1", feedback=brief_example_feedback(), recipient_ids=["acme"])
    change(request)
    return request


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda r: setattr(r.feedback.lead, "source_id", "SOURCE\x00ABC"),
            "feedback.lead.source_id",
        ),
        (
            lambda r: setattr(r.feedback.outcome.value, "currency_code", "U\x00D"),
            "feedback.outcome.value.currency_code",
        ),
        (
            lambda r: r.feedback.attribution.sub_ids.__setitem__("s\x001", "x"),
            "feedback.attribution.sub_ids['s\\x001'] (key)",
        ),
        (
            lambda r: r.feedback.attribution.sub_ids.__setitem__("s1", "x\x00"),
            "feedback.attribution.sub_ids['s1']",
        ),
        (
            lambda r: r.feedback.quality.dimensions.__setitem__("data\x00quality", 10),
            "feedback.quality.dimensions['data\\x00quality'] (key)",
        ),
        (
            lambda r: r.feedback.consents.add(provider="tcpa", reference="ref\x00"),
            "feedback.consents[0].reference",
        ),
        (
            lambda r: r.feedback.attributes.update({"outer": {"inner": ["fine", "not\x00fine"]}}),
            "feedback.attributes.outer.inner[1]",
        ),
        (lambda r: r.feedback.attributes.update({"k\x00": 1}), "feedback.attributes.k\x00 (key)"),
        (lambda r: r.recipient_ids.append("a\x00"), "recipient_ids[1]"),
        (lambda r: setattr(r, "request_id", "\x00"), "request_id"),
    ],
)
def test_a_nul_anywhere_is_refused_by_its_path(
    change: Callable[[Request], object], field: str
) -> None:
    assert refused(send(change)) == [field]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda r: setattr(r.feedback.quality, "overall_score", float("nan")),
            "feedback.quality.overall_score",
        ),
        (
            lambda r: r.feedback.quality.dimensions.__setitem__("x", float("-inf")),
            "feedback.quality.dimensions['x']",
        ),
        (
            lambda r: r.feedback.attributes.update({"a": {"b": [1, float("inf")]}}),
            "feedback.attributes.a.b[1]",
        ),
    ],
)
def test_a_non_finite_number_anywhere_is_refused_by_its_path(
    change: Callable[[Request], object], field: str
) -> None:
    assert refused(send(change)) == [field]


def test_a_non_finite_number_in_recipient_settings_is_refused() -> None:
    recipient = recipient_pb2.Recipient(id="acme")
    recipient.transport_settings.update({"url": "http://x", "timeout_seconds": float("nan")})
    recipient.format_options.update({"fields": [float("inf")]})
    request = recipient_service_pb2.CreateRecipientRequest(recipient=recipient)

    assert sorted(refused(request)) == [
        "recipient.format_options.fields[0]",
        "recipient.transport_settings.timeout_seconds",
    ]


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(0, 10**9), (0, -1), (253402300800, 0), (-62135596801, 0)],
)
def test_a_timestamp_out_of_range_is_refused(seconds: int, nanos: int) -> None:
    request = delivery_service_pb2.RecoverDeliveriesRequest(recipient_id="acme", requested_by="me")
    request.start_time.seconds, request.start_time.nanos = seconds, nanos
    request.end_time.seconds = 1

    assert refused(request) == ["start_time"]


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(1, -1), (-1, 1), (0, 10**9), (315576000001, 0), (-315576000001, 0)]
)
def test_a_duration_out_of_range_is_refused(seconds: int, nanos: int) -> None:
    recipient = recipient_pb2.Recipient(id="acme")
    recipient.retry_policy.retry_delays.add(seconds=5)
    recipient.retry_policy.retry_delays.add(seconds=seconds, nanos=nanos)

    assert refused(recipient_service_pb2.CreateRecipientRequest(recipient=recipient)) == [
        "recipient.retry_policy.retry_delays[1]"
    ]


def test_too_many_entries_in_any_list_or_map_are_refused_at_any_depth() -> None:
    def crowd(request: Request) -> None:
        request.recipient_ids.extend(f"r{i}" for i in range(11))
        for i in range(11):
            request.feedback.attribution.sub_ids[f"s{i}"] = "x"
        request.feedback.attributes.update({"list": list(range(11))})

    assert refused(send(crowd), RequestLimits(max_entries=10)) == [
        "feedback.attribution.sub_ids",
        "feedback.attributes.list",
        "recipient_ids",
    ]


def test_a_request_larger_than_the_limit_is_refused() -> None:
    request = send()

    assert refused(request, RequestLimits(max_bytes=request.ByteSize() - 1)) == ["request"]
    assert refused(request, RequestLimits(max_bytes=request.ByteSize())) == []


def test_every_violation_is_reported_at_once() -> None:
    def spoil(request: Request) -> None:
        request.feedback.lead.lead_id = "\x00"
        request.feedback.quality.overall_score = float("nan")
        request.feedback.feedback_time.nanos = -5

    assert sorted(refused(send(spoil))) == [
        "feedback.feedback_time",
        "feedback.lead.lead_id",
        "feedback.quality.overall_score",
    ]


@pytest.mark.parametrize(
    "change",
    [
        lambda r: None,
        # Each makes a quick screen fire without anything being wrong.
        lambda r: setattr(r.feedback.outcome, "product", "backslash \\000 is four characters"),
        lambda r: setattr(r.feedback.outcome, "product", "financial: nan\ninfo: inf"),
        lambda r: r.feedback.attribution.sub_ids.update({f"s{i}": "x" * 40 for i in range(40)}),
    ],
    ids=["brief-example", "spelled-nul", "spelled-nan", "large"],
)
def test_a_fine_request_passes(change: Callable[[Request], object]) -> None:
    assert refused(send(change), RequestLimits(max_entries=50)) == []
