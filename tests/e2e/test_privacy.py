"""Privacy by construction (issue 16), as an auditor would check it against a running
server, a real Postgres and a real webhook receiver: a subject's personal identifiers are
stored only sealed and never answered back; a recipient gets only what its data policy
allows, whatever its format or template tries; a recipient requiring consent the feedback
does not grant gets nothing, and the suppression is visible in its event."""

from __future__ import annotations

import hashlib
import json
import logging

import asyncpg
import grpc
import pytest
from backchannel_client.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    event_pb2,
    feedback_pb2,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
)
from google.protobuf import field_mask_pb2
from support.brief_example import brief_example_feedback
from support.database_dump import dump_database
from support.feedback_calls import wait_for_event
from support.in_process_server import RunningServer, serving
from support.postgres_cluster import PostgresCluster
from support.receiver import WebhookReceiver
from support.recipient_calls import invalid_fields, update
from support.webhook_recipients import create_webhook_recipient

from backchannel.sealing.key_ring import KeyRing

EMAIL = "Jane.Doe.Privacy@gmail.com"
PHONE = "+1 650-555-0123"
PHONE_DIGITS = "6505550123"


def _with_subject(
    *purposes: tuple[str, feedback_pb2.ConsentState.ValueType],
) -> feedback_pb2.Feedback:
    feedback = brief_example_feedback()
    feedback.subject.CopyFrom(
        feedback_pb2.Subject(
            email=EMAIL,
            phone=PHONE,
            first_name="Jane",
            last_name="O'Doe",
            postal_code="94035",
            country="US",
        )
    )
    for purpose, state in purposes:
        feedback.consent_purposes.add(purpose=purpose, state=state)
    return feedback


async def _send(
    running: RunningServer,
    request_id: str,
    recipient_ids: list[str],
    feedback: feedback_pb2.Feedback,
) -> feedback_service_pb2.SendFeedbackResponse:
    answer: feedback_service_pb2.SendFeedbackResponse = await running.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id=request_id, feedback=feedback, recipient_ids=recipient_ids
        )
    )
    return answer


def _personal(text: str) -> list[str]:
    """Which of the subject's identifiers ``text`` holds readable (case-insensitively), as
    text or as the hex pg_dump writes a bytea column in (a serialized record)."""
    lowered = text.lower()
    values = (EMAIL, PHONE, PHONE_DIGITS, "O'Doe")
    return [v for v in values if v.lower() in lowered or v.encode().hex() in lowered]


async def test_a_subject_is_stored_only_sealed_and_never_answered(
    backchannel: RunningServer,
    receiver: WebhookReceiver,
    signing_secret: str,
    postgres: PostgresCluster,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await create_webhook_recipient(backchannel, "crm", receiver.url, signing_secret)
    sent = await _send(backchannel, "req-sealed", ["crm"], _with_subject())
    await wait_for_event(backchannel, sent.feedback.id)
    got = await backchannel.feedback.GetFeedback(
        feedback_service_pb2.GetFeedbackRequest(feedback_id=sent.feedback.id)
    )
    dump = await dump_database(postgres, database_url)

    assert _personal(dump) == []
    assert caplog.records, "nothing was logged: the next check would prove nothing"
    assert _personal(caplog.text) == []
    assert not sent.feedback.HasField("subject")
    assert not got.feedback.HasField("subject")
    # ... yet it is there, sealed, with its data key kept apart (crypto-shredding).
    assert "subject_keys" in dump and sent.feedback.id in dump
    # The default policy lets no identifier through.
    (request,) = await receiver.wait_for(1)
    assert _personal(request.body.decode()) == []
    assert "subject" not in json.loads(request.body)


async def test_a_template_cannot_print_an_identifier_the_policy_excludes(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    options = recipient_pb2.Recipient().format_options
    options.update({"template": "lead={{ lead_id }} email={{ subject.email }}"})
    await create_webhook_recipient(
        backchannel, "tpl", receiver.url, signing_secret, format="template", format_options=options
    )
    await _send(backchannel, "req-template", ["tpl"], _with_subject())

    (request,) = await receiver.wait_for(1)
    assert request.body.decode() == "lead=LC123456789 email="


async def test_a_hashed_policy_sends_only_the_allowed_fields_and_the_hash(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    policy = recipient_pb2.DataPolicy(
        allowed_fields=["lead_id", "outcome.value", "subject.email", "subject.phone"],
        subject_access=recipient_pb2.SUBJECT_ACCESS_HASHED,
        hash_rules=recipient_pb2.HASH_RULES_GOOGLE,
    )
    await create_webhook_recipient(
        backchannel, "ads", receiver.url, signing_secret, data_policy=policy
    )
    await _send(backchannel, "req-hashed", ["ads"], _with_subject())

    (request,) = await receiver.wait_for(1)
    body = json.loads(request.body)
    assert _personal(request.body.decode()) == []
    # Google's rules: trimmed, lower-cased, the dots of a gmail.com local part removed;
    # the phone in E.164.
    assert body["subject"] == {
        "email": hashlib.sha256(b"janedoeprivacy@gmail.com").hexdigest(),
        "phone": hashlib.sha256(b"+16505550123").hexdigest(),
    }
    assert {key for key in body if key != "subject"} <= {"kind", "lead_id", "outcome"}
    assert body["outcome"] == {"value": 1250.0}


async def test_get_recipient_shows_the_effective_policy_and_the_audit_trail_its_change(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    created = await create_webhook_recipient(backchannel, "partner", receiver.url, signing_secret)
    assert not created.HasField("data_policy")
    assert created.effective_data_policy.subject_access == recipient_pb2.SUBJECT_ACCESS_EXCLUDED
    assert "subject" not in created.effective_data_policy.allowed_fields
    assert "outcome" in created.effective_data_policy.allowed_fields

    change = recipient_pb2.Recipient(
        id="partner",
        data_policy=recipient_pb2.DataPolicy(allowed_fields=["lead_id", "kind"]),
        required_consent_purposes=["share_with_partners"],
    )
    await backchannel.recipients.UpdateRecipient(
        recipient_service_pb2.UpdateRecipientRequest(
            recipient=change,
            update_mask=field_mask_pb2.FieldMask(
                paths=["data_policy", "required_consent_purposes"]
            ),
        )
    )
    got = await backchannel.recipients.GetRecipient(
        recipient_service_pb2.GetRecipientRequest(recipient_id="partner")
    )
    audit = audit_service_pb2_grpc.AuditServiceStub(backchannel.channel)
    records = (await audit.ListAuditRecords(audit_service_pb2.ListAuditRecordsRequest())).records

    assert list(got.recipient.effective_data_policy.allowed_fields) == ["lead_id", "kind"]
    assert list(got.recipient.required_consent_purposes) == ["share_with_partners"]
    changed = {c.field: c for r in records if r.target == "recipients/partner" for c in r.changes}
    assert "lead_id" in changed["data_policy"].new_value
    assert changed["data_policy"].old_value == "null"
    assert "share_with_partners" in changed["required_consent_purposes"].new_value


async def test_a_policy_naming_an_identifier_it_does_not_allow_is_refused(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    recipient = recipient_pb2.Recipient(
        id="bad",
        recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE,
        transport="webhook",
        data_policy=recipient_pb2.DataPolicy(allowed_fields=["subject.email", "nope", "a..b"]),
        required_consent_purposes=["Ad User Data"],
    )
    recipient.transport_settings.update({"url": receiver.url})
    recipient.secret_settings.update({"signing_secrets": signing_secret})
    fields = await invalid_fields(
        backchannel.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
        )
    )
    assert set(fields) == {
        "recipient.data_policy.allowed_fields[0]",
        "recipient.data_policy.allowed_fields[1]",
        "recipient.data_policy.allowed_fields[2]",
        "recipient.required_consent_purposes[0]",
    }


async def test_a_delivery_without_the_required_consent_is_suppressed_and_says_why(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "ads", receiver.url, signing_secret)
    requiring = recipient_pb2.Recipient(
        id="ads", required_consent_purposes=["ad_user_data", "ad_personalization"]
    )
    await update(backchannel, requiring, "required_consent_purposes")
    denied = await _send(
        backchannel,
        "req-denied",
        ["ads"],
        _with_subject(
            ("ad_user_data", feedback_pb2.CONSENT_STATE_DENIED),
            ("ad_personalization", feedback_pb2.CONSENT_STATE_GRANTED),
        ),
    )
    granted = await _send(
        backchannel,
        "req-granted",
        ["ads"],
        _with_subject(
            ("ad_user_data", feedback_pb2.CONSENT_STATE_GRANTED),
            ("ad_personalization", feedback_pb2.CONSENT_STATE_GRANTED),
        ),
    )

    suppressed = await wait_for_event(backchannel, denied.feedback.id)
    delivered = await wait_for_event(backchannel, granted.feedback.id)
    got = await backchannel.feedback.GetFeedback(
        feedback_service_pb2.GetFeedbackRequest(feedback_id=denied.feedback.id)
    )
    listed = await backchannel.feedback.ListFeedbackEvents(
        feedback_service_pb2.ListFeedbackEventsRequest(filter='processing_status = "SUPPRESSED"')
    )

    assert suppressed.processing_status == event_pb2.PROCESSING_STATUS_SUPPRESSED
    assert list(suppressed.missing_consent_purposes) == ["ad_user_data"]
    assert "ad_user_data" in suppressed.response_status.excerpt
    assert got.deliveries[0].state == feedback_service_pb2.DELIVERY_STATE_SUPPRESSED
    assert [e.feedback_id for e in listed.events] == [denied.feedback.id]
    assert delivered.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED
    # Only the granted one reached the recipient.
    requests = await receiver.wait_for(1)
    assert len(requests) == 1
    assert granted.feedback.id in requests[0].body.decode()


async def test_feedback_with_invalid_identifiers_is_refused_without_echoing_them(
    backchannel: RunningServer,
) -> None:
    feedback = brief_example_feedback()
    feedback.subject.email = "not-an-email"
    feedback.subject.phone = "12"
    feedback.consent_purposes.add(purpose="Bad Purpose", state=feedback_pb2.CONSENT_STATE_GRANTED)
    fields = await invalid_fields(_send(backchannel, "req-bad-subject", [], feedback))

    assert set(fields) == {
        "feedback.subject.email",
        "feedback.subject.phone",
        "feedback.consent_purposes[0].purpose",
    }


async def test_a_meta_capi_recipient_gets_hashed_identifiers_and_a_refusal_says_why(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    policy = recipient_pb2.DataPolicy(
        allowed_fields=["lead_id", "feedback_id", "feedback_date", "outcome", "subject"],
        subject_access=recipient_pb2.SUBJECT_ACCESS_HASHED,
        hash_rules=recipient_pb2.HASH_RULES_META,
    )
    await create_webhook_recipient(
        backchannel, "meta", receiver.url, signing_secret, format="meta_capi", data_policy=policy
    )
    sent = await _send(backchannel, "req-meta", ["meta"], _with_subject())
    refund = _with_subject()
    refund.outcome.value.amount = "-5.00"
    refused = await _send(backchannel, "req-meta-refused", ["meta"], refund)

    (request,) = await receiver.wait_for(1)
    failed = await wait_for_event(backchannel, refused.feedback.id)
    (event,) = json.loads(request.body)["data"]

    assert _personal(request.body.decode()) == []
    assert event["event_id"] == sent.feedback.id
    assert event["user_data"]["em"] == [hashlib.sha256(EMAIL.lower().encode()).hexdigest()]
    assert event["user_data"]["ph"] == [hashlib.sha256(b"16505550123").hexdigest()]
    assert event["user_data"]["lead_id"] == "LC123456789"
    assert event["custom_data"] == {"value": 1250.0, "currency": "USD"}
    assert failed.processing_status == event_pb2.PROCESSING_STATUS_FAILED
    assert "the value is negative" in failed.response_status.excerpt


async def test_a_subject_without_a_configured_key_is_refused_and_nothing_stored(
    database_url: str,
) -> None:
    async with serving(database_url, secret_keys=KeyRing()) as running:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _send(running, "req-no-key", [], _with_subject())
    connection = await asyncpg.connect(database_url)
    try:
        stored = await connection.fetchval("SELECT count(*) FROM feedback")
    finally:
        await connection.close()

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no secret key is configured" in (refused.value.details() or "")
    assert EMAIL not in (refused.value.details() or "")
    assert stored == 0
