"""A batch recipient's data policy cuts every row of its files, whatever columns its format
options name; a member without the consent the recipient requires is left out of the file
and its delivery ends suppressed, its event naming the missing purpose."""

from __future__ import annotations

import hashlib
import json

from backchannel_client.v1 import event_pb2, feedback_pb2, feedback_service_pb2, recipient_pb2
from support.batch_calls import batch_recipient, create, finished, run_now, send_feedback
from support.brief_example import brief_example_feedback
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver

_DAILY_JSONL = {
    "schedule": {"cron": "0 6 * * *", "timeZone": "Europe/Paris"},
    "file": {"format": "BATCH_FILE_FORMAT_JSONL"},
}


async def test_a_batch_file_holds_only_what_the_policy_allows(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    recipient = batch_recipient(
        "narrow",
        "webhook",
        {"url": receiver.url},
        {"signing_secrets": signing_secret},
        _DAILY_JSONL,
        {"fields": ["lead_id", "outcome.value", "attribution.campaign"]},
    )
    recipient.data_policy.allowed_fields.extend(["lead_id", "kind"])
    await create(backchannel.channel, recipient)
    await send_feedback(backchannel.channel, "narrow", 2)
    batch = await run_now(backchannel.channel, "narrow")
    await finished(backchannel.channel, batch.id)

    [request] = await receiver.wait_for(1)
    rows = [json.loads(line) for line in request.body.decode().splitlines()]
    assert sorted(row["lead_id"] for row in rows) == ["lead-0", "lead-1"]
    assert b"1250" not in request.body
    assert b"winter_2024" not in request.body


async def test_a_batch_member_without_the_required_consent_is_left_out_and_suppressed(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    recipient = batch_recipient(
        "gated", "webhook", {"url": receiver.url}, {"signing_secrets": signing_secret},
        _DAILY_JSONL,
    )  # fmt: skip
    recipient.required_consent_purposes.append("share_with_partners")
    await create(backchannel.channel, recipient)
    sent = {}
    for lead_id, state in (
        ("granted", feedback_pb2.CONSENT_STATE_GRANTED),
        ("denied", feedback_pb2.CONSENT_STATE_DENIED),
    ):
        feedback = brief_example_feedback()
        feedback.lead.lead_id = lead_id
        feedback.consent_purposes.add(purpose="share_with_partners", state=state)
        answer = await backchannel.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id=lead_id, feedback=feedback, recipient_ids=["gated"]
            )
        )
        sent[lead_id] = answer.feedback.id
    batch = await run_now(backchannel.channel, "gated")
    done = await finished(backchannel.channel, batch.id)

    [request] = await receiver.wait_for(1)
    rows = [json.loads(line) for line in request.body.decode().splitlines()]
    assert [row["lead_id"] for row in rows] == ["granted"]
    assert done.batch.excluded_count == 1
    got = await backchannel.feedback.GetFeedback(
        feedback_service_pb2.GetFeedbackRequest(feedback_id=sent["denied"])
    )
    (delivery,) = got.deliveries
    assert delivery.state == feedback_service_pb2.DELIVERY_STATE_SUPPRESSED
    event = delivery.attempts[-1]
    assert event.processing_status == event_pb2.PROCESSING_STATUS_SUPPRESSED
    assert list(event.missing_consent_purposes) == ["share_with_partners"]


async def test_a_batch_file_holds_the_subject_only_hashed_as_the_policy_says(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    recipient = batch_recipient(
        "ads-file",
        "webhook",
        {"url": receiver.url},
        {"signing_secrets": signing_secret},
        _DAILY_JSONL,
        {"fields": ["lead_id", "subject.email", "subject.phone"]},
    )
    recipient.data_policy.allowed_fields.extend(["lead_id", "subject.email"])
    recipient.data_policy.subject_access = recipient_pb2.SUBJECT_ACCESS_HASHED
    recipient.data_policy.hash_rules = recipient_pb2.HASH_RULES_GOOGLE
    await create(backchannel.channel, recipient)
    feedback = brief_example_feedback()
    feedback.subject.email = "Jane.Doe@gmail.com"
    feedback.subject.phone = "+16505550123"
    await backchannel.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id="with-subject", feedback=feedback, recipient_ids=["ads-file"]
        )
    )
    batch = await run_now(backchannel.channel, "ads-file")
    await finished(backchannel.channel, batch.id)

    [request] = await receiver.wait_for(1)
    [row] = [json.loads(line) for line in request.body.decode().splitlines()]
    assert row["subject.email"] == hashlib.sha256(b"janedoe@gmail.com").hexdigest()
    # Not allowed by the policy, though the format names it.
    assert row.get("subject.phone") in (None, "")
    assert b"Jane" not in request.body and b"6505550123" not in request.body
