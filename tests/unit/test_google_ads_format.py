"""The ``google_ads_csv`` format: Google's offline conversion import columns, the time as
``yyyy-mm-dd hh:mm:ss+hh:mm``, email and phone only ever hashed as Google normalizes them
(Campaign Manager 360 / Google Ads enhanced conversions: trim, lower-case, gmail dots
removed, E.164), and what Google's import would reject refused before sending."""

from __future__ import annotations

import csv
import hashlib
import io
from decimal import Decimal
from typing import Any

import pytest

from backchannel.formatters import GoogleAdsCsvFormatter
from backchannel.plugin import ContentRefused, FeedbackDocument


def _document(**changes: Any) -> FeedbackDocument:
    document: dict[str, Any] = {
        "feedback_id": "fb_1",
        "kind": "conversion",
        "lead_id": "LC1",
        "click_id": "Cj0KCQ-gclid",
        "feedback_date": "2024-01-15T10:30:00Z",
        "outcome": {
            "conversion_date": "2024-01-14T15:45:00Z",
            "value": Decimal("1250.00"),
            "currency": "USD",
        },
        "subject": {"email": " Jane.Doe@GMAIL.com", "phone": "(650) 555-1212", "country": "US"},
    }
    document.update(changes)
    return document  # type: ignore[return-value]


def _rows(document: FeedbackDocument, **options: Any) -> list[list[str]]:
    body = GoogleAdsCsvFormatter().render(document, options).body.decode()
    return list(csv.reader(io.StringIO(body)))


def test_a_conversion_is_one_row_under_googles_columns() -> None:
    header, row = _rows(_document(), conversion_name="Closed deal")

    assert header == [
        "Google Click ID", "Conversion Name", "Conversion Time", "Conversion Value",
        "Conversion Currency", "Order ID", "Email", "Phone Number",
    ]  # fmt: skip
    assert row == [
        "Cj0KCQ-gclid",
        "Closed deal",
        "2024-01-14 15:45:00+00:00",
        "1250.00",
        "USD",
        "fb_1",
        hashlib.sha256(b"janedoe@gmail.com").hexdigest(),
        hashlib.sha256(b"+16505551212").hexdigest(),
    ]


def test_without_a_subject_the_identifier_cells_stay_empty() -> None:
    document = _document()
    del document["subject"]

    _, row = _rows(document)

    assert row[1] == "Converted lead"
    assert row[6:] == ["", ""]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"outcome": {"conversion_date": "2999-01-01T00:00:00Z"}}, "in the future"),
        ({"outcome": {"value": Decimal("10"), "currency": "US"}}, "currency"),
        ({"outcome": {"value": Decimal("-1"), "currency": "USD"}}, "negative"),
        ({"click_id": "", "subject": {"phone": "12"}}, "no match key"),
    ],
)
def test_what_google_would_reject_is_refused_with_the_reason(
    changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ContentRefused, match=reason):
        GoogleAdsCsvFormatter().render(_document(**changes), {})


def test_a_conversion_name_that_could_be_a_formula_is_refused() -> None:
    problems = GoogleAdsCsvFormatter().check_options({"conversion_name": "=HYPERLINK(1)"})

    assert [p.field for p in problems] == ["format_options.conversion_name"]
