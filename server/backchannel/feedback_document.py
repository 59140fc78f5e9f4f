"""The canonical document of a feedback record: the shape every formatter renders.

It follows the individual-feedback example of the product brief (lead_id, source_id,
feedback_date, outcome{status, conversion_date, value, product}, quality{overall_score,
...}, attribution{campaign, creative, keyword}); money stays a Decimal so no formatter
ever rounds it.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from backchannel_client.v1 import feedback_pb2
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from backchannel.plugin import FeedbackDocument, FeedbackKind

KIND_NAMES: dict[feedback_pb2.FeedbackKind.ValueType, FeedbackKind] = {
    feedback_pb2.FEEDBACK_KIND_CONVERSION: "conversion",
    feedback_pb2.FEEDBACK_KIND_RETURN: "return",
    feedback_pb2.FEEDBACK_KIND_QUALITY: "quality",
    feedback_pb2.FEEDBACK_KIND_DISPOSITION: "disposition",
    feedback_pb2.FEEDBACK_KIND_ATTRIBUTION: "attribution",
}


CONSENT_STATE_NAMES: dict[feedback_pb2.ConsentState.ValueType, str] = {
    feedback_pb2.CONSENT_STATE_GRANTED: "granted",
    feedback_pb2.CONSENT_STATE_DENIED: "denied",
    feedback_pb2.CONSENT_STATE_UNKNOWN: "unknown",
    feedback_pb2.CONSENT_STATE_UNSPECIFIED: "unknown",
}

_EPOCH = datetime(1970, 1, 1)
_MIN_SECONDS, _MAX_SECONDS = -62135596800, 253402300799  # 0001-01-01 .. 9999-12-31


def rfc3339(timestamp: Timestamp) -> str:
    """What ``Timestamp.ToJsonString`` writes (3, 6 or 9 fractional digits as the time
    needs, none for whole seconds), in integer arithmetic at half its cost, the text of
    recent whole seconds kept: each document holds up to four times."""
    seconds, nanos = timestamp.seconds, timestamp.nanos
    if not (_MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos < 1_000_000_000):
        raise ValueError(f"not a valid timestamp: {seconds} s, {nanos} ns")
    text = _whole_seconds(seconds)
    if not nanos:
        return text + "Z"
    if not nanos % 1_000_000:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if not nanos % 1000:
        return f"{text}.{nanos // 1000:06d}Z"
    return f"{text}.{nanos:09d}Z"


@functools.lru_cache(maxsize=4096)
def _whole_seconds(seconds: int) -> str:
    # Feedback delivered together was mostly accepted within the same few seconds.
    return (_EPOCH + timedelta(seconds=seconds)).isoformat()


def _score(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _put(document: dict[str, Any], key: str, value: Any) -> None:
    """Puts a value that is not empty ("", None, {} or [])."""
    if value or (value is not None and value != "" and not isinstance(value, dict | list)):
        document[key] = value


def feedback_document(feedback: feedback_pb2.Feedback) -> FeedbackDocument:
    """The document of ``feedback``: every part that is set, in a fixed order; empty values
    ("", None, {} and []) are left out at every level. Its shape is
    :data:`backchannel.plugin.FeedbackDocument`, which plugins read."""
    document: dict[str, Any] = {}
    _put(document, "feedback_id", feedback.id)
    document["kind"] = KIND_NAMES.get(feedback.kind, "unspecified")
    lead = feedback.lead
    _put(document, "lead_id", lead.lead_id)
    _put(document, "source_id", lead.source_id)
    _put(document, "flow_id", lead.flow_id)
    _put(document, "event_id", lead.event_id)
    _put(document, "click_id", lead.click_id)
    _put(document, "transaction_id", lead.transaction_id)
    if feedback.HasField("feedback_time"):
        document["feedback_date"] = rfc3339(feedback.feedback_time)
    if feedback.HasField("accept_time"):
        document["accepted_at"] = rfc3339(feedback.accept_time)
    if feedback.HasField("outcome"):
        outcome = feedback.outcome
        part: dict[str, Any] = {}
        _put(part, "status", outcome.status)
        if outcome.HasField("occur_time"):
            part["conversion_date"] = rfc3339(outcome.occur_time)
        money = outcome.value
        if money.amount:
            part["value"] = Decimal(money.amount)
        _put(part, "currency", money.currency_code)
        _put(part, "product", outcome.product)
        _put(document, "outcome", part)
    if feedback.HasField("return_details"):
        details = feedback.return_details
        part = {}
        _put(part, "reason_code", details.reason_code)
        _put(part, "reason_text", details.reason_text)
        if details.HasField("return_time"):
            part["return_date"] = rfc3339(details.return_time)
        _put(document, "return", part)
    if feedback.HasField("quality"):
        scores = feedback.quality
        part = {}
        if scores.HasField("overall_score"):
            part["overall_score"] = _score(scores.overall_score)
        for name, score in sorted(scores.dimensions.items()):
            part[name] = _score(score)
        _put(document, "quality", part)
    if feedback.HasField("attribution"):
        attribution = feedback.attribution
        part = {}
        _put(part, "campaign", attribution.campaign)
        _put(part, "creative", attribution.creative)
        _put(part, "keyword", attribution.keyword)
        if attribution.sub_ids:
            part["sub_ids"] = dict(sorted(attribution.sub_ids.items()))
        _put(document, "attribution", part)
    consents: list[dict[str, Any]] = []
    for consent in feedback.consents:
        part = {}
        _put(part, "provider", consent.provider)
        _put(part, "reference", consent.reference)
        consents.append(part)
    _put(document, "consents", consents)
    purposes = {
        p.purpose: CONSENT_STATE_NAMES.get(p.state, "unknown") for p in feedback.consent_purposes
    }
    _put(document, "consent_purposes", purposes)
    if feedback.HasField("attributes"):
        _put(document, "attributes", json_format.MessageToDict(feedback.attributes))
    # Built key by key above, in the order formatters write it; the keys are the TypedDict's.
    return cast(FeedbackDocument, document)
