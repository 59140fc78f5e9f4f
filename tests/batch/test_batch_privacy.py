"""A batch recipient's data policy cuts every row of its files, whatever columns its format
options name; consent gating is refused for batch recipients until files are gated too."""

from __future__ import annotations

import json

from backchannel_client.v1 import recipient_service_pb2
from support.batch_calls import batch_recipient, create, finished, run_now, send_feedback
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver
from support.recipient_calls import invalid_fields

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


async def test_a_batch_recipient_cannot_require_consent_yet(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    recipient = batch_recipient(
        "gated", "webhook", {"url": receiver.url}, {"signing_secrets": signing_secret},
        _DAILY_JSONL,
    )  # fmt: skip
    recipient.required_consent_purposes.append("share_with_partners")

    fields = await invalid_fields(
        backchannel.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
        )
    )

    assert fields == ["recipient.required_consent_purposes"]
