"""The individual-feedback example of the product brief, as the tests, the Python client's
tests and the benchmarks send it."""

from __future__ import annotations

from typing import Any

from backchannel_client.v1 import feedback_pb2
from google.protobuf import json_format

#: The brief's individual lead feedback, in proto JSON (as buf curl and grpcurl take it).
BRIEF_EXAMPLE: dict[str, Any] = {
    "kind": "FEEDBACK_KIND_CONVERSION",
    "lead": {"leadId": "LC123456789", "sourceId": "SOURCE_ABC"},
    "feedbackTime": "2024-01-15T10:30:00Z",
    "outcome": {
        "status": "converted",
        "occurTime": "2024-01-14T15:45:00Z",
        "value": {"currencyCode": "USD", "amount": "1250.00"},
        "product": "home_insurance",
    },
    "quality": {
        "overallScore": 85,
        "dimensions": {
            "data_quality": 90,
            "conversion_likelihood": 80,
            "customer_satisfaction": 88,
        },
    },
    "attribution": {
        "campaign": "winter_2024",
        "creative": "banner_v2",
        "keyword": "home insurance quotes",
    },
}


def brief_example_feedback() -> feedback_pb2.Feedback:
    return json_format.ParseDict(BRIEF_EXAMPLE, feedback_pb2.Feedback())
