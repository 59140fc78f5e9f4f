"""The ``meta_capi`` format: a Conversions API server event Meta accepts, identifiers only
ever hashed as Meta normalizes them, and Meta's own checks made before sending.

Event shape: Meta, "Conversions API — Server Event Parameters" (event_name, event_time in
Unix seconds, action_source, event_id for deduplication, user_data, custom_data
value/currency). Hashes: Meta, "Customer Information Parameters" (see
test_personal_hashing)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest

from backchannel.formatters import MetaCapiFormatter
from backchannel.plugin import ContentRefused, FeedbackDocument

META_EM = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
META_PH = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"


def _document(**changes: Any) -> FeedbackDocument:
    document: dict[str, Any] = {
        "feedback_id": "fb_1",
        "kind": "conversion",
        "lead_id": "LC1",
        "feedback_date": "2024-01-15T10:30:00Z",
        "outcome": {
            "conversion_date": "2024-01-14T15:45:00Z",
            "value": Decimal("1250.00"),
            "currency": "USD",
        },
        "subject": {"email": "John_Smith@gmail.com", "phone": "(650)555-1212", "country": "US"},
    }
    document.update(changes)
    return document  # type: ignore[return-value]


def _event(document: FeedbackDocument, **options: Any) -> dict[str, Any]:
    body = MetaCapiFormatter().render(document, options).body
    (event,) = json.loads(body)["data"]
    assert isinstance(event, dict)
    return event


def test_the_event_has_metas_fields_and_hashes_the_raw_identifiers() -> None:
    event = _event(_document(), event_name="Lead", action_source="phone_call")

    assert event == {
        "event_name": "Lead",
        "event_time": 1705247100,
        "action_source": "phone_call",
        "event_id": "fb_1",
        "user_data": {
            "em": [META_EM],
            "ph": [META_PH],
            "country": [hashlib.sha256(b"us").hexdigest()],
            "lead_id": "LC1",
        },
        "custom_data": {"value": 1250.0, "currency": "USD"},
    }


def test_identifiers_the_policy_already_hashed_are_sent_as_they_are() -> None:
    event = _event(_document(subject={"email": META_EM}))

    assert event["user_data"]["em"] == [META_EM]


def test_without_a_subject_only_the_lead_id_matches() -> None:
    document = _document()
    del document["subject"]

    assert _event(document)["user_data"] == {"lead_id": "LC1"}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"outcome": {"conversion_date": "2999-01-01T00:00:00Z"}}, "in the future"),
        ({"outcome": {"value": Decimal("10"), "currency": "usd"}}, "currency"),
        ({"outcome": {"value": Decimal("-1"), "currency": "USD"}}, "negative"),
        ({"lead_id": "", "subject": {"phone": "12"}}, "no match key"),
    ],
)
def test_what_meta_would_refuse_is_refused_with_the_reason(
    changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ContentRefused, match=reason):
        MetaCapiFormatter().render(_document(**changes), {})


def test_options_are_checked() -> None:
    problems = MetaCapiFormatter().check_options({"event_name": "", "action_source": "fax"})

    assert {p.field for p in problems} == {
        "format_options.event_name",
        "format_options.action_source",
    }
