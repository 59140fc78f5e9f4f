"""The request id ``send --file`` derives for an item without one is the documented
SHA-256 of the item's canonical JSON (RFC 8785) and the namespace: the same item gives the
same id whatever its spelling, and anything the server would see differently gives
another."""

from __future__ import annotations

import hashlib

from backchannel_client import SendFeedbackRequest, build_feedback

from backchannel.cli.feedback_input import request_from_fields, request_from_object
from backchannel.cli.request_ids import derived_request_id


def request(**fields: str) -> SendFeedbackRequest:
    return request_from_fields({"kind": "conversion", "lead_id": "L1", **fields})


def test_the_id_is_the_documented_digest_of_the_canonical_json() -> None:
    canonical = (
        b'{"namespace":"","request":{"feedback":{"kind":"FEEDBACK_KIND_CONVERSION",'
        b'"lead":{"leadId":"L1"}}}}'
    )

    assert derived_request_id(request()) == "send-v1-" + hashlib.sha256(canonical).hexdigest()


def test_spelling_format_and_the_items_own_request_id_change_nothing() -> None:
    from_json = request_from_object(
        {"lead": {"leadId": "L1"}, "kind": "FEEDBACK_KIND_CONVERSION", "requestId": "x"}
    )
    short_name = request_from_object({"kind": "Conversion", "lead": {"lead_id": "L1"}})

    assert derived_request_id(from_json) == derived_request_id(short_name)
    assert derived_request_id(short_name) == derived_request_id(request())


def test_recipients_content_and_namespace_each_make_another_id() -> None:
    plain = derived_request_id(request())
    to_acme = request()
    to_acme.recipient_ids.append("acme")

    assert derived_request_id(to_acme) != plain
    assert derived_request_id(request(source_id="S")) != plain
    assert derived_request_id(request(), "2024-01-16") != plain


def test_the_id_is_a_request_id_the_server_takes() -> None:
    long = SendFeedbackRequest(feedback=build_feedback(kind="return", lead_id="L" * 1000))

    request_id = derived_request_id(long)

    assert len(request_id) == len("send-v1-") + 64 <= 128
    assert request_id.isascii() and " " not in request_id
