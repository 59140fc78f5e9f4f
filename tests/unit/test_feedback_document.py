"""The canonical feedback document every formatter renders: the brief's shape, every field
of a full record in its place, empty parts left out, times in RFC 3339 with as many
fractional digits as they need."""

from __future__ import annotations

from decimal import Decimal

import pytest
from backchannel_client.v1 import feedback_pb2
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from support.brief_example import brief_example_feedback

from backchannel.feedback_document import feedback_document, rfc3339


def full_feedback() -> feedback_pb2.Feedback:
    return json_format.ParseDict(
        {
            "id": "fb_1",
            "requestId": "req-1",
            "kind": "FEEDBACK_KIND_RETURN",
            "lead": {
                "leadId": "LC1",
                "sourceId": "SRC",
                "flowId": "flow",
                "eventId": "evt",
                "clickId": "click",
                "transactionId": "tx",
            },
            "feedbackTime": "2024-01-15T10:30:00.120Z",
            "acceptTime": "2024-01-15T10:30:01.000123Z",
            "outcome": {
                "status": "returned",
                "occurTime": "2024-01-14T15:45:00.000000007Z",
                "value": {"currencyCode": "EUR", "amount": "-12.50"},
                "product": "auto",
            },
            "returnDetails": {
                "reasonCode": "BAD_PHONE",
                "reasonText": "disconnected",
                "returnTime": "2024-01-16T00:00:00Z",
            },
            "quality": {"overallScore": 12.5, "dimensions": {"zeta": 1, "alpha": 99.25}},
            "attribution": {
                "campaign": "c",
                "creative": "cr",
                "keyword": "k",
                "subIds": {"s2": "two", "s1": "one"},
            },
            "consents": [
                {"provider": "tcpa", "reference": "ref-1"},
                {"provider": "gdpr", "reference": ""},
            ],
            "attributes": {"note": "n", "nested": {"list": [1, "x", True]}},
        },
        feedback_pb2.Feedback(),
    )


def test_the_brief_example_has_the_brief_shape() -> None:
    feedback = brief_example_feedback()
    feedback.id = "fb_1"

    assert feedback_document(feedback) == {
        "feedback_id": "fb_1",
        "kind": "conversion",
        "lead_id": "LC123456789",
        "source_id": "SOURCE_ABC",
        "feedback_date": "2024-01-15T10:30:00Z",
        "outcome": {
            "status": "converted",
            "conversion_date": "2024-01-14T15:45:00Z",
            "value": Decimal("1250.00"),
            "currency": "USD",
            "product": "home_insurance",
        },
        "quality": {
            "overall_score": 85,
            "conversion_likelihood": 80,
            "customer_satisfaction": 88,
            "data_quality": 90,
        },
        "attribution": {
            "campaign": "winter_2024",
            "creative": "banner_v2",
            "keyword": "home insurance quotes",
        },
    }


def test_every_field_of_a_full_record_has_its_place_in_order() -> None:
    document = feedback_document(full_feedback())

    assert list(document.items()) == [
        ("feedback_id", "fb_1"),
        ("kind", "return"),
        ("lead_id", "LC1"),
        ("source_id", "SRC"),
        ("flow_id", "flow"),
        ("event_id", "evt"),
        ("click_id", "click"),
        ("transaction_id", "tx"),
        ("feedback_date", "2024-01-15T10:30:00.120Z"),
        ("accepted_at", "2024-01-15T10:30:01.000123Z"),
        (
            "outcome",
            {
                "status": "returned",
                "conversion_date": "2024-01-14T15:45:00.000000007Z",
                "value": Decimal("-12.50"),
                "currency": "EUR",
                "product": "auto",
            },
        ),
        (
            "return",
            {
                "reason_code": "BAD_PHONE",
                "reason_text": "disconnected",
                "return_date": "2024-01-16T00:00:00Z",
            },
        ),
        ("quality", {"overall_score": 12.5, "alpha": 99.25, "zeta": 1}),
        (
            "attribution",
            {
                "campaign": "c",
                "creative": "cr",
                "keyword": "k",
                "sub_ids": {"s1": "one", "s2": "two"},
            },
        ),
        ("consents", [{"provider": "tcpa", "reference": "ref-1"}, {"provider": "gdpr"}]),
        ("attributes", {"note": "n", "nested": {"list": [1, "x", True]}}),
    ]
    assert [type(v) for v in document["quality"].values()] == [float, float, int]
    assert list(document["outcome"]) == [
        "status",
        "conversion_date",
        "value",
        "currency",
        "product",
    ]


def test_empty_parts_are_left_out() -> None:
    feedback = feedback_pb2.Feedback(kind=feedback_pb2.FEEDBACK_KIND_QUALITY)
    feedback.lead.lead_id = "LC1"
    feedback.outcome.SetInParent()
    feedback.return_details.SetInParent()
    feedback.attribution.SetInParent()
    feedback.quality.dimensions["only"] = 0

    assert feedback_document(feedback) == {
        "kind": "quality",
        "lead_id": "LC1",
        "quality": {"only": 0},
    }


def test_an_unknown_kind_is_unspecified() -> None:
    feedback = feedback_pb2.Feedback(kind=99)  # type: ignore[arg-type]

    assert feedback_document(feedback) == {"kind": "unspecified"}


@pytest.mark.parametrize(
    ("seconds", "nanos", "text"),
    [
        (0, 0, "1970-01-01T00:00:00Z"),
        (1705314600, 120_000_000, "2024-01-15T10:30:00.120Z"),
        (1705314600, 123_000, "2024-01-15T10:30:00.000123Z"),
        (1705314600, 7, "2024-01-15T10:30:00.000000007Z"),
        (-1, 999_999_999, "1969-12-31T23:59:59.999999999Z"),
        (-62135596800, 0, "0001-01-01T00:00:00Z"),
        (253402300799, 999_000_000, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_times_are_rfc3339_with_the_digits_they_need(seconds: int, nanos: int, text: str) -> None:
    stamp = Timestamp(seconds=seconds, nanos=nanos)

    assert rfc3339(stamp) == text == stamp.ToJsonString()


@pytest.mark.parametrize(("seconds", "nanos"), [(253402300800, 0), (0, -1), (0, 10**9)])
def test_a_time_no_timestamp_can_hold_is_refused(seconds: int, nanos: int) -> None:
    with pytest.raises(ValueError):
        rfc3339(Timestamp(seconds=seconds, nanos=nanos))
