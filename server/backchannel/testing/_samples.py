"""Sample feedback documents in the canonical shape, and messages built from them."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from backchannel.plugin import (
    CompanionFile,
    FeedbackDocument,
    OutboundFile,
    OutboundMessage,
    RenderedContent,
    TransportContext,
)

#: Text that breaks naive encoders: accents, CJK, an emoji, markup, quotes, CSV and formula
#: characters, a tab and a line break.
ODD_TEXT = "Zoë Ångström 日本語 🙂 <b>&amp;</b> \"quoted\" 'single' a,b;c =SUM(A1)\tend\r\nnext"

_BRIEF: FeedbackDocument = {
    "feedback_id": "fb_conformance_brief",
    "kind": "conversion",
    "lead_id": "LC123456789",
    "source_id": "SOURCE_ABC",
    "feedback_date": "2024-01-15T10:30:00Z",
    "accepted_at": "2024-01-15T10:30:01Z",
    "outcome": {
        "status": "converted",
        "conversion_date": "2024-01-14T15:45:00Z",
        "value": Decimal("1250.00"),
        "currency": "USD",
        "product": "home_insurance",
    },
    "quality": {"overall_score": 85, "data_quality": 90, "conversion_likelihood": 80},
    "attribution": {
        "campaign": "winter_2024",
        "creative": "banner_v2",
        "keyword": "home insurance quotes",
    },
}

_RETURN: FeedbackDocument = {
    "feedback_id": "fb_conformance_return",
    "kind": "return",
    "lead_id": "LR-2001",
    "source_id": "SOURCE_ABC",
    "feedback_date": "2024-02-01T08:00:00Z",
    "accepted_at": "2024-02-01T08:00:02Z",
    "return": {
        "reason_code": "INVALID_PHONE",
        "reason_text": "The number is not in service.",
        "return_date": "2024-01-31T00:00:00Z",
    },
}

_QUALITY: FeedbackDocument = {
    "feedback_id": "fb_conformance_quality",
    "kind": "quality",
    "lead_id": "LQ-3001",
    "source_id": "SOURCE_XYZ",
    "feedback_date": "2024-03-10T12:00:00Z",
    "accepted_at": "2024-03-10T12:00:00Z",
    "quality": {"overall_score": 72.5, "contactability": 95, "intent": 40},
}

_UNICODE: FeedbackDocument = {
    "feedback_id": "fb_conformance_unicode",
    "kind": "conversion",
    "lead_id": "LU-Zoë-日本",
    "source_id": "source-ünïcode",
    "feedback_date": "2024-04-01T09:15:00Z",
    "accepted_at": "2024-04-01T09:15:01Z",
    "outcome": {"status": "converted", "product": ODD_TEXT},
    "attribution": {"campaign": "été 🙂", "keyword": "<script>alert('x')</script>"},
    "attributes": {"note": ODD_TEXT, "empty": "", "nested": {"flag": True, "count": 3}},
}

_DECIMAL: FeedbackDocument = {
    "feedback_id": "fb_conformance_decimal",
    "kind": "conversion",
    "lead_id": "LD-4001",
    "source_id": "SOURCE_ABC",
    "feedback_date": "2024-05-05T05:05:05Z",
    "accepted_at": "2024-05-05T05:05:06Z",
    "outcome": {
        "status": "converted",
        "value": Decimal("98765.4321"),
        "currency": "SEK",
        "product": "heat_pump",
    },
}

#: Sample feedback documents by name, in the shape the server hands to formatters and in
#: ``OutboundMessage.document``: the brief's example, a return, a quality rating, text full of
#: special characters, and money that must keep every digit (a ``Decimal``).
SAMPLE_DOCUMENTS: Mapping[str, FeedbackDocument] = MappingProxyType(
    {
        "brief": _BRIEF,
        "return": _RETURN,
        "quality": _QUALITY,
        "unicode": _UNICODE,
        "decimal": _DECIMAL,
    }
)

#: The document :func:`sample_message` sends unless told otherwise.
DEFAULT_MESSAGE_DOCUMENT = "unicode"


def sample_content(document: FeedbackDocument) -> RenderedContent:
    """What the ``json`` formatter would make of ``document``, closely enough for a transport:
    UTF-8 JSON, non-ASCII characters left as they are."""
    body = json.dumps(document, ensure_ascii=False, sort_keys=True, default=str).encode()
    return RenderedContent(body=body, content_type="application/json", file_extension="json")


def sample_message(
    *,
    document: FeedbackDocument | None = None,
    delivery_id: str = "dlv_conformance_1",
    attempt: int = 1,
) -> OutboundMessage:
    """An :class:`OutboundMessage` for one of the sample documents, as the host builds it."""
    if document is None:
        document = SAMPLE_DOCUMENTS[DEFAULT_MESSAGE_DOCUMENT]
    kind = document["kind"]
    return OutboundMessage(
        delivery_id=delivery_id,
        feedback_id=document.get("feedback_id", "fb_conformance"),
        recipient_id="rcp_conformance",
        attempt=attempt,
        event_type=f"feedback.{kind}",
        content=sample_content(document),
        document=document,
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )


def loopback_context(**overrides: Any) -> TransportContext:
    """A :class:`TransportContext` that lets a transport reach test servers on loopback (and
    nothing else a production host would refuse), with short timeouts."""
    values: dict[str, Any] = {
        "allowed_networks": (
            ipaddress.ip_network("127.0.0.0/8"),
            ipaddress.ip_network("::1/128"),
        ),
        "user_agent": "Backchannel-conformance",
        "connect_timeout": 5.0,
        "total_timeout": 15.0,
    }
    values.update(overrides)
    return TransportContext(**values)


def unused_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on (an unreachable endpoint's port)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def sample_file(
    *, batch_id: str = "bat_conformance_1", attempt: int = 1, size: int = 300_000
) -> OutboundFile:
    """An :class:`OutboundFile` as the host builds it: ``size`` bytes of CSV-like text
    streamed in 64 KiB chunks, with an empty ``.done`` marker as its companion."""
    line = b"lead_id,outcome.value,feedback_date\r\nLC123456789,1250.00,2024-01-15T10:30:00Z\r\n"
    body = (line * (size // len(line) + 1))[:size]
    name = f"conformance-{batch_id}.csv"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    return OutboundFile(
        batch_id=batch_id,
        recipient_id="rcp_conformance",
        attempt=attempt,
        name=name,
        content_type="text/csv; charset=utf-8",
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        open=chunks,
        companions=(CompanionFile(f"{name}.done", b"", "application/octet-stream"),),
        item_count=size // len(line),
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
