"""What a Teams card says about one feedback document, and what it leaves out.

The summary is plain text: the card escapes it. Personal data (custom attributes, consents,
click and transaction ids, affiliate sub-ids, which often carry click or user ids) is shown
only when the recipient allows it; otherwise the summary says which of it was left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backchannel.plugin import FeedbackDocument

from ._markdown import one_line

KIND_LABELS = {
    "conversion": "Conversion",
    "return": "Return",
    "quality": "Quality score",
    "disposition": "Disposition",
    "attribution": "Attribution",
}
#: Nested attributes deeper than this are shown as JSON rather than one fact per leaf.
_MAX_ATTRIBUTE_DEPTH = 8


@dataclass(frozen=True)
class Fact:
    """A title and a value, each plain text on one line and never empty."""

    title: str
    value: str


@dataclass(frozen=True)
class Summary:
    heading: str
    #: Facts about the feedback itself (never personal data), in the order they are shown.
    facts: tuple[Fact, ...]
    #: Personal data, shown in a section of its own; empty unless the recipient allows it.
    personal: tuple[Fact, ...]
    #: The kinds of personal data the document had but the card leaves out.
    omitted: tuple[str, ...]


def summarise(document: FeedbackDocument, *, include_personal_data: bool) -> Summary:
    """The heading, facts and personal data a card shows for ``document``."""
    kind = document.get("kind", "")
    label = KIND_LABELS.get(kind, one_line(kind).capitalize() or "Feedback")
    lead = one_line(document.get("lead_id", ""))
    heading = f"{label} · lead {lead}" if lead else label
    facts = tuple(_facts(document))
    personal = tuple(_personal_facts(document))
    if include_personal_data:
        return Summary(heading, facts, personal, ())
    return Summary(heading, facts, (), _personal_kinds(document))


def _facts(document: FeedbackDocument) -> Iterator[Fact]:
    outcome = document.get("outcome", {})
    quality = document.get("quality", {})
    returned = document.get("return", {})
    attribution = document.get("attribution", {})
    value = text(outcome.get("value"))
    currency = text(outcome.get("currency"))
    candidates: list[tuple[str, str | None]] = [
        ("Source", text(document.get("source_id"))),
        ("Status", text(outcome.get("status"))),
        ("Value", f"{value} {currency}" if value and currency else value),
        ("Product", text(outcome.get("product"))),
        ("Conversion date", text(outcome.get("conversion_date"))),
        ("Quality score", text(quality.get("overall_score"))),
        *(
            (f"Quality ({dimension})", text(score))
            for dimension, score in quality.items()
            if dimension != "overall_score"
        ),
        ("Return reason", text(returned.get("reason_code"))),
        ("Return note", text(returned.get("reason_text"))),
        ("Return date", text(returned.get("return_date"))),
        ("Campaign", text(attribution.get("campaign"))),
        ("Creative", text(attribution.get("creative"))),
        ("Keyword", text(attribution.get("keyword"))),
        ("Feedback date", text(document.get("feedback_date"))),
        ("Feedback ID", text(document.get("feedback_id"))),
    ]
    for title, shown in candidates:
        yield from _fact(title, shown)


def _personal_facts(document: FeedbackDocument) -> Iterator[Fact]:
    yield from _fact("Click ID", text(document.get("click_id")))
    yield from _fact("Transaction ID", text(document.get("transaction_id")))
    for name, value in document.get("attribution", {}).get("sub_ids", {}).items():
        yield from _fact(f"Sub ID {name}", text(value))
    for consent in document.get("consents", []):
        provider = text(consent.get("provider"))
        reference = text(consent.get("reference"))
        yield from _fact(f"Consent ({provider})" if provider else "Consent", reference or "given")
    yield from _attribute_facts(document.get("attributes", {}), "", 0)


def _attribute_facts(values: Mapping[str, Any], prefix: str, depth: int) -> Iterator[Fact]:
    for name, value in values.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping) and value and depth < _MAX_ATTRIBUTE_DEPTH:
            yield from _attribute_facts(value, f"{path}.", depth + 1)
            continue
        yield from _fact(path, text(value))


def _fact(title: str, value: str | None) -> Iterator[Fact]:
    """The fact, unless it has no value; a title with no characters reads ``(no name)``."""
    shown = one_line(value or "")
    if shown:
        yield Fact(one_line(title) or "(no name)", shown)


def _personal_kinds(document: FeedbackDocument) -> tuple[str, ...]:
    present = {
        "attributes": bool(document.get("attributes")),
        "consents": bool(document.get("consents")),
        "click id": bool(document.get("click_id")),
        "transaction id": bool(document.get("transaction_id")),
        "sub-ids": bool(document.get("attribution", {}).get("sub_ids")),
    }
    return tuple(kind for kind, there in present.items() if there)


def text(value: Any) -> str | None:
    """How a document value reads on a card; numbers keep every digit they have."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f") if math.isfinite(value) else repr(value)
    return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
