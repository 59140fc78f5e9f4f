"""Messages from plain Python values: proto JSON dicts, or keywords."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from google.protobuf import json_format

from backchannel_client._generated.backchannel.v1 import feedback_pb2, recipient_pb2

#: A feedback as a message, or as a dict of its proto JSON form (see feedback_from_dict).
FeedbackLike = feedback_pb2.Feedback | Mapping[str, Any]
#: A recipient as a message, or as a dict of its proto JSON form.
RecipientLike = recipient_pb2.Recipient | Mapping[str, Any]


def feedback_from_dict(data: Mapping[str, Any]) -> feedback_pb2.Feedback:
    """A Feedback from its proto JSON form, as ``buf curl`` or ``grpcurl`` take it: field
    names in lowerCamelCase (``leadId``) or as in the proto (``lead_id``), enums by name
    (``"FEEDBACK_KIND_CONVERSION"``), timestamps as RFC 3339 text, money amounts as text.

    Raises ``ValueError`` naming the field that does not fit.
    """
    try:
        return json_format.ParseDict(dict(data), feedback_pb2.Feedback())
    except json_format.ParseError as error:
        raise ValueError(f"not a feedback: {error}") from error


def recipient_from_dict(data: Mapping[str, Any]) -> recipient_pb2.Recipient:
    """A Recipient from its proto JSON form (``transportSettings``, ``secretSettings``,
    ``recipientType: "RECIPIENT_TYPE_SOURCE"``...). Raises ``ValueError``."""
    try:
        return json_format.ParseDict(dict(data), recipient_pb2.Recipient())
    except json_format.ParseError as error:
        raise ValueError(f"not a recipient: {error}") from error


def feedback_kind(kind: str | int) -> feedback_pb2.FeedbackKind.ValueType:
    """A FeedbackKind from its number, its full name (``FEEDBACK_KIND_CONVERSION``) or its
    short name in any case (``conversion``)."""
    if isinstance(kind, int):
        return feedback_pb2.FeedbackKind.ValueType(kind)
    name = kind.strip().upper()
    if not name.startswith("FEEDBACK_KIND_"):
        name = "FEEDBACK_KIND_" + name
    try:
        return feedback_pb2.FeedbackKind.Value(name)
    except ValueError:
        choices = ", ".join(
            n.removeprefix("FEEDBACK_KIND_").lower()
            for n, _ in feedback_pb2.FeedbackKind.items()
            if not n.endswith("UNSPECIFIED")
        )
        raise ValueError(f"unknown feedback kind {kind!r}; one of {choices}") from None


def build_feedback(
    *,
    kind: str | int,
    lead_id: str,
    source_id: str = "",
    feedback_time: datetime | None = None,
    status: str = "",
    occur_time: datetime | None = None,
    value: str | Decimal | None = None,
    currency: str = "",
    product: str = "",
    overall_score: float | None = None,
    quality: Mapping[str, float] | None = None,
    campaign: str = "",
    creative: str = "",
    keyword: str = "",
    return_reason: str = "",
    return_text: str = "",
) -> feedback_pb2.Feedback:
    """A Feedback from keywords, for the common cases. ``kind`` is ``conversion``,
    ``return``, ``quality``, ``disposition`` or ``attribution``; ``value`` is an exact
    decimal (text or Decimal, never a float) in ``currency``; ``quality`` maps dimension
    names to scores 0-100. Anything else: build the message, or use feedback_from_dict.
    """
    feedback = feedback_pb2.Feedback(
        kind=feedback_kind(kind),
        lead=feedback_pb2.LeadReference(lead_id=lead_id, source_id=source_id),
    )
    if feedback_time is not None:
        feedback.feedback_time.FromDatetime(feedback_time)
    if status or occur_time is not None or value is not None or product:
        feedback.outcome.status = status
        feedback.outcome.product = product
        if occur_time is not None:
            feedback.outcome.occur_time.FromDatetime(occur_time)
        if value is not None:
            feedback.outcome.value.amount = str(value)
            feedback.outcome.value.currency_code = currency
    if overall_score is not None or quality:
        if overall_score is not None:
            feedback.quality.overall_score = overall_score
        feedback.quality.dimensions.update(quality or {})
    if campaign or creative or keyword:
        feedback.attribution.campaign = campaign
        feedback.attribution.creative = creative
        feedback.attribution.keyword = keyword
    if return_reason or return_text:
        feedback.return_details.reason_code = return_reason
        feedback.return_details.reason_text = return_text
    return feedback


def as_feedback(feedback: FeedbackLike) -> feedback_pb2.Feedback:
    if isinstance(feedback, feedback_pb2.Feedback):
        return feedback
    return feedback_from_dict(feedback)


def as_recipient(recipient: RecipientLike) -> recipient_pb2.Recipient:
    if isinstance(recipient, recipient_pb2.Recipient):
        return recipient
    return recipient_from_dict(recipient)
