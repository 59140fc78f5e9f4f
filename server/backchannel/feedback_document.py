"""The canonical document of a feedback record: the shape every formatter renders.

It follows the individual-feedback example of the product brief (lead_id, source_id,
feedback_date, outcome{status, conversion_date, value, product}, quality{overall_score,
...}, attribution{campaign, creative, keyword}); money stays a Decimal so no formatter
ever rounds it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from backchannel.v1 import feedback_pb2

KIND_NAMES = {
    feedback_pb2.FEEDBACK_KIND_CONVERSION: "conversion",
    feedback_pb2.FEEDBACK_KIND_RETURN: "return",
    feedback_pb2.FEEDBACK_KIND_QUALITY: "quality",
    feedback_pb2.FEEDBACK_KIND_DISPOSITION: "disposition",
    feedback_pb2.FEEDBACK_KIND_ATTRIBUTION: "attribution",
}


def rfc3339(timestamp: Timestamp) -> str:
    return timestamp.ToJsonString()


def _score(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _without_empty(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value not in ("", None, {}, [])}


def feedback_document(feedback: feedback_pb2.Feedback) -> dict[str, Any]:
    lead = feedback.lead
    document: dict[str, Any] = {
        "feedback_id": feedback.id,
        "kind": KIND_NAMES.get(feedback.kind, "unspecified"),
        "lead_id": lead.lead_id,
        "source_id": lead.source_id,
        "flow_id": lead.flow_id,
        "event_id": lead.event_id,
        "click_id": lead.click_id,
        "transaction_id": lead.transaction_id,
        "feedback_date": rfc3339(feedback.feedback_time)
        if feedback.HasField("feedback_time")
        else None,
        "accepted_at": rfc3339(feedback.accept_time) if feedback.HasField("accept_time") else None,
    }
    if feedback.HasField("outcome"):
        outcome = feedback.outcome
        document["outcome"] = _without_empty(
            {
                "status": outcome.status,
                "conversion_date": rfc3339(outcome.occur_time)
                if outcome.HasField("occur_time")
                else None,
                "value": Decimal(outcome.value.amount) if outcome.value.amount else None,
                "currency": outcome.value.currency_code,
                "product": outcome.product,
            }
        )
    if feedback.HasField("return_details"):
        details = feedback.return_details
        document["return"] = _without_empty(
            {
                "reason_code": details.reason_code,
                "reason_text": details.reason_text,
                "return_date": rfc3339(details.return_time)
                if details.HasField("return_time")
                else None,
            }
        )
    if feedback.HasField("quality"):
        quality: dict[str, Any] = {}
        if feedback.quality.HasField("overall_score"):
            quality["overall_score"] = _score(feedback.quality.overall_score)
        for name in sorted(feedback.quality.dimensions):
            quality[name] = _score(feedback.quality.dimensions[name])
        document["quality"] = quality
    if feedback.HasField("attribution"):
        attribution = feedback.attribution
        document["attribution"] = _without_empty(
            {
                "campaign": attribution.campaign,
                "creative": attribution.creative,
                "keyword": attribution.keyword,
                "sub_ids": dict(sorted(attribution.sub_ids.items())),
            }
        )
    if feedback.consents:
        document["consents"] = [
            _without_empty({"provider": c.provider, "reference": c.reference})
            for c in feedback.consents
        ]
    if feedback.HasField("attributes"):
        document["attributes"] = json_format.MessageToDict(feedback.attributes)
    return _without_empty(document)
