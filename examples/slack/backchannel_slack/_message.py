"""The Slack message for one feedback: a one-line ``text`` (notifications, screen readers)
and Block Kit ``blocks`` with the main facts of the document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backchannel.plugin import FeedbackDocument

#: Slack's limits: header text and section field text.
_HEADER_CHARS = 150
_FIELD_CHARS = 2000


def escape(text: str) -> str:
    """Text safe in Slack's mrkdwn: ``&``, ``<`` and ``>`` are its control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _get(document: FeedbackDocument, *path: str) -> str | None:
    """The text at ``path`` (``"outcome", "value"``), or None when the document has none."""
    value: object = document
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    if value is None or value == "":
        return None
    return str(value)


def summary(document: FeedbackDocument, event_type: str) -> str:
    """One line: what happened to which lead."""
    kind = _get(document, "kind") or event_type.removeprefix("feedback.")
    lead = _get(document, "lead_id") or "(unknown lead)"
    line = f"Lead {lead}: {kind}"
    status = _get(document, "outcome", "status")
    value = _get(document, "outcome", "value")
    if status:
        line += f", {status}"
    if value:
        line += f" ({value} {_get(document, 'outcome', 'currency') or ''})".replace(" )", ")")
    reason = _get(document, "return", "reason_code")
    if reason:
        line += f", returned: {reason}"
    score = _get(document, "quality", "overall_score")
    if score:
        line += f", quality {score}"
    return line


_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Lead", ("lead_id",)),
    ("Source", ("source_id",)),
    ("Kind", ("kind",)),
    ("Status", ("outcome", "status")),
    ("Value", ("outcome", "value")),
    ("Currency", ("outcome", "currency")),
    ("Product", ("outcome", "product")),
    ("Return reason", ("return", "reason_code")),
    ("Quality score", ("quality", "overall_score")),
    ("Campaign", ("attribution", "campaign")),
    ("Feedback date", ("feedback_date",)),
)


def slack_payload(document: FeedbackDocument, event_type: str, title: str | None) -> dict[str, Any]:
    """The JSON body posted to the webhook."""
    text = summary(document, event_type)
    fields = [
        {"type": "mrkdwn", "text": escape(f"*{label}*\n{value}")[:_FIELD_CHARS]}
        for label, path in _FIELDS
        if (value := _get(document, *path)) is not None
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": (title or text)[:_HEADER_CHARS]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}},
    ]
    # A section holds at most 10 fields.
    for start in range(0, len(fields), 10):
        blocks.append({"type": "section", "fields": fields[start : start + 10]})
    feedback_id = _get(document, "feedback_id")
    if feedback_id:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(feedback_id)}]}
        )
    return {"text": escape(f"{title}: {text}" if title else text), "blocks": blocks}


def probe_payload() -> dict[str, Any]:
    return {"text": "Backchannel test message: this channel is set up to receive lead feedback."}
