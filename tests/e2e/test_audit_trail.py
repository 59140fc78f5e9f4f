"""The audit trail against a real server and Postgres: every change a caller makes is a
record (who, when, what changed, old -> new, the request and trace ids) written in the
change's own transaction; secrets are never in it; it is append-only even to SQL; it is
filtered and paged; a narrower reader sees only its own part."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from backchannel_client.v1 import (
    audit_service_pb2,
    delivery_service_pb2,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
    token_service_pb2,
)
from google.protobuf import field_mask_pb2, timestamp_pb2
from support.access import Calls, Secured, new_token
from support.brief_example import brief_example_feedback
from support.in_process_server import serving
from support.polling import eventually
from support.postgres_cluster import PostgresCluster
from support.receiver import WebhookReceiver

from backchannel.store.audit import prune_audit_records
from backchannel.store.database import create_pool

BEARER = "bearer-token-value-7Qx9"
NEW_BEARER = "bearer-token-value-rotated-Zk2"


def webhook(recipient_id: str, url: str, signing_secret: str) -> recipient_pb2.Recipient:
    recipient = recipient_pb2.Recipient(
        id=recipient_id, recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE, transport="webhook"
    )
    recipient.transport_settings.update({"url": url, "auth": "bearer"})
    recipient.secret_settings.update({"signing_secrets": signing_secret, "bearer_token": BEARER})
    return recipient


async def records(calls: Calls, filter_text: str = "") -> list[audit_service_pb2.AuditRecord]:
    found: list[audit_service_pb2.AuditRecord] = []
    token = ""
    while True:
        page = await calls.audit.ListAuditRecords(
            audit_service_pb2.ListAuditRecordsRequest(filter=filter_text, page_token=token)
        )
        found += page.records
        token = page.next_page_token
        if not token:
            return found


async def test_recipient_changes_are_recorded_field_by_field_with_who_and_which_call(
    secured: Secured, receiver: WebhookReceiver, signing_secret: str
) -> None:
    editor = await new_token(secured.admin, "editor", ["recipients:write", "audit:read"])
    calls = secured.as_token(editor)
    request_id = (("x-request-id", "change-4711"),)
    recipient = webhook("acme", receiver.url, signing_secret)
    await calls.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=recipient), metadata=request_id
    )
    changed = recipient_pb2.Recipient(id="acme", display_name="ACME Leads")
    # The same url: moving a recipient would need its signing secret again.
    changed.transport_settings.update({"url": receiver.url, "auth": "bearer", "timeout_seconds": 7})
    changed.secret_settings.update({"bearer_token": NEW_BEARER})
    await calls.recipients.UpdateRecipient(
        recipient_service_pb2.UpdateRecipientRequest(
            recipient=changed,
            update_mask=field_mask_pb2.FieldMask(
                paths=["display_name", "transport_settings", "secret_settings"]
            ),
        )
    )
    for state in (recipient_pb2.RECIPIENT_STATE_PAUSED, recipient_pb2.RECIPIENT_STATE_ACTIVE):
        await calls.recipients.UpdateRecipient(
            recipient_service_pb2.UpdateRecipientRequest(
                recipient=recipient_pb2.Recipient(id="acme", state=state),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            )
        )
    await calls.recipients.DeleteRecipient(
        recipient_service_pb2.DeleteRecipientRequest(recipient_id="acme")
    )

    trail = await records(calls, 'target = "recipients/acme"')

    assert [r.action for r in trail] == [
        "recipient.create",
        "recipient.update",
        "recipient.pause",
        "recipient.enable",
        "recipient.delete",
    ]
    assert {(r.actor, r.actor_kind, r.actor_token_id) for r in trail} == {
        ("editor", "token", editor.id)
    }
    assert trail[0].request_id == "change-4711" and trail[1].request_id == ""
    assert all(len(r.trace_id) == 32 and int(r.trace_id, 16) for r in trail)
    update = {c.field: c for c in trail[1].changes}
    assert (update["display_name"].old_value, update["display_name"].new_value) == (
        '""',
        '"ACME Leads"',
    )
    assert update["transport_settings.timeout_seconds"].new_value == "7.0"
    assert "transport_settings.url" not in update
    assert update["secret_settings.bearer_token"].secret == "secret `bearer_token` replaced"
    assert "secret_settings.signing_secrets" not in update  # not given: not changed
    assert [(c.field, c.old_value, c.new_value) for c in trail[2].changes] == [
        ("state", '"active"', '"paused"')
    ]
    created = {c.field: c for c in trail[0].changes}
    assert created["secret_settings.bearer_token"].secret == "secret `bearer_token` set"


async def test_no_record_holds_a_secret_value(
    secured: Secured, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await secured.admin.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(
            recipient=webhook("acme", receiver.url, signing_secret)
        )
    )
    changed = recipient_pb2.Recipient(id="acme")
    changed.secret_settings.update({"bearer_token": NEW_BEARER})
    await secured.admin.recipients.UpdateRecipient(
        recipient_service_pb2.UpdateRecipientRequest(
            recipient=changed, update_mask=field_mask_pb2.FieldMask(paths=["secret_settings"])
        )
    )
    made = await secured.admin.tokens.CreateToken(
        token_service_pb2.CreateTokenRequest(name="ci", scopes=["feedback:send"])
    )

    listed = await secured.admin.audit.ListAuditRecords(audit_service_pb2.ListAuditRecordsRequest())

    text = listed.SerializeToString()
    for secret in (BEARER, NEW_BEARER, signing_secret, made.secret, secured.admin_token.text):
        assert secret.encode() not in text
    assert len(listed.records) == 4  # bootstrap's token, recipient create and update, token


async def test_token_creation_and_revocation_are_recorded(secured: Secured) -> None:
    token = await new_token(secured.admin, "crm-sync", ["feedback:send"], sources=["SOURCE_ABC"])
    await secured.admin.tokens.RevokeToken(token_service_pb2.RevokeTokenRequest(token_id=token.id))
    await secured.admin.tokens.RevokeToken(token_service_pb2.RevokeTokenRequest(token_id=token.id))

    trail = await records(secured.admin, f'target = "tokens/{token.id}"')

    assert [r.action for r in trail] == ["token.create", "token.revoke"]  # once
    assert {c.field: c.new_value for c in trail[0].changes} == {
        "name": '"crm-sync"',
        "scopes": '["feedback:send"]',
        "source_ids": '["SOURCE_ABC"]',
    }
    assert trail[1].actor == "admin" and trail[1].details["name"] == "crm-sync"
    [bootstrap] = await records(secured.admin, f'target = "tokens/{secured.admin_token.id}"')
    assert (bootstrap.actor, bootstrap.actor_kind) == ("local:tester@tests", "local")


async def test_operator_actions_are_recorded_with_what_the_operator_typed_as_a_note(
    secured: Secured, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await secured.admin.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(
            recipient=webhook("acme", receiver.url, signing_secret)
        )
    )
    feedback = brief_example_feedback()
    sent = await secured.admin.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id="r1", feedback=feedback, recipient_ids=["acme"]
        )
    )
    await eventually(lambda: _delivered(secured.admin, sent.feedback.id), timeout=15)
    # Paused, its deliveries wait (held): no attempt can be in flight for what follows.
    await secured.admin.recipients.UpdateRecipient(
        recipient_service_pb2.UpdateRecipientRequest(
            recipient=recipient_pb2.Recipient(
                id="acme", state=recipient_pb2.RECIPIENT_STATE_PAUSED
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        )
    )
    now = datetime.now(UTC)
    await secured.admin.deliveries.RetryDelivery(
        delivery_service_pb2.RetryDeliveryRequest(
            delivery_id=sent.deliveries[0].id, requested_by="jane (ticket 12)"
        )
    )
    await secured.admin.deliveries.ResendFeedback(
        delivery_service_pb2.ResendFeedbackRequest(
            feedback_id=sent.feedback.id, recipient_id="acme"
        )
    )
    start, end = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    start.FromDatetime(now - timedelta(hours=1))
    end.FromDatetime(now + timedelta(hours=1))
    await secured.admin.deliveries.RecoverDeliveries(
        delivery_service_pb2.RecoverDeliveriesRequest(
            recipient_id="acme", start_time=start, end_time=end
        )
    )

    trail = await records(secured.admin, 'action = "delivery.retry"')
    trail += await records(secured.admin, 'action = "delivery.resend"')
    trail += await records(secured.admin, 'action = "delivery.recover"')

    assert [r.target for r in trail] == [
        f"deliveries/{sent.deliveries[0].id}",
        f"feedback/{sent.feedback.id}/recipients/acme",
        "recipients/acme",
    ]
    assert trail[0].details["requested_by_note"] == "jane (ticket 12)"
    assert "requested_by_note" not in trail[1].details  # nothing typed
    assert trail[2].details["recovered_count"] == "0"
    assert {r.actor for r in trail} == {"admin"}


async def test_records_are_filtered_by_actor_action_target_and_time_and_paged(
    secured: Secured,
) -> None:
    before = datetime.now(UTC)
    for index in range(5):
        await new_token(secured.admin, f"t{index}", ["feedback:read"])
    after = datetime.now(UTC) + timedelta(seconds=1)

    page = await secured.admin.audit.ListAuditRecords(
        audit_service_pb2.ListAuditRecordsRequest(filter='action = "token.create"', page_size=2)
    )
    all_created = await records(secured.admin, 'action = "token.create" AND actor = "admin"')
    in_window = await records(
        secured.admin,
        f'create_time >= "{before.isoformat()}" AND create_time < "{after.isoformat()}"',
    )
    nobody = await records(secured.admin, 'actor = "nobody"')

    assert len(page.records) == 2 and page.next_page_token
    assert [r.target.startswith("tokens/") for r in all_created] == [True] * 5
    assert len(in_window) == 5
    assert nobody == []
    with pytest.raises(grpc.aio.AioRpcError) as other_filter:
        await secured.admin.audit.ListAuditRecords(
            audit_service_pb2.ListAuditRecordsRequest(
                filter='actor = "admin"', page_token=page.next_page_token
            )
        )
    assert other_filter.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_reader_narrowed_to_recipients_reads_only_their_records(
    secured: Secured, receiver: WebhookReceiver, signing_secret: str
) -> None:
    for recipient_id in ("acme", "beta"):
        await secured.admin.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(
                recipient=webhook(recipient_id, receiver.url, signing_secret)
            )
        )
    reader = secured.as_token(
        await new_token(secured.admin, "acme-auditor", ["audit:read"], recipients=["acme"])
    )

    trail = await records(reader)

    assert [(r.action, r.target) for r in trail] == [("recipient.create", "recipients/acme")]


# --- the records themselves -----------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET actor = 'someone else'",
        "DELETE FROM audit_records",
        "TRUNCATE audit_records",
    ],
)
async def test_records_cannot_be_changed_or_deleted_even_with_sql(
    secured: Secured, database_url: str, statement: str
) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute(statement)
        count = await connection.fetchval("SELECT count(*) FROM audit_records")
    finally:
        await connection.close()

    assert count == 1  # the bootstrap token's record


async def test_only_records_past_their_retention_are_pruned(
    secured: Secured, database_url: str
) -> None:
    pool = await create_pool(database_url, 1)
    try:
        await pool.execute(
            "INSERT INTO audit_records (id, create_time, actor, actor_kind, action, target)"
            " VALUES ('aud_old', now() - interval '400 days', 'x', 'anonymous', 'a', 't')"
        )
        await prune_audit_records(pool, datetime.now(UTC) - timedelta(days=365))
        left = await pool.fetch("SELECT id FROM audit_records ORDER BY seq")
    finally:
        await pool.close()

    assert [row["id"] for row in left] != [] and "aud_old" not in {row["id"] for row in left}


@contextlib.asynccontextmanager
async def role_without(
    postgres: PostgresCluster, database_url: str, *revoked: str
) -> AsyncIterator[str]:
    """The URL of ``database_url`` for a new role that may do everything on its tables
    except ``revoked`` (e.g. "INSERT ON audit_records")."""
    role = f"limited_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        # The server checks its migrations at start.
        await admin.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
        await admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        await admin.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        for privilege in revoked:
            await admin.execute(f"REVOKE {privilege} FROM {role}")
        yield database_url.replace("postgresql://postgres@", f"postgresql://{role}@")
    finally:
        await admin.execute(f"DROP OWNED BY {role}")
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()


async def test_a_change_whose_record_cannot_be_written_is_not_made(
    secured: Secured,
    postgres: PostgresCluster,
    database_url: str,
    receiver: WebhookReceiver,
    signing_secret: str,
) -> None:
    async with (
        role_without(postgres, database_url, "INSERT ON audit_records") as limited_url,
        serving(limited_url) as limited,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await limited.recipients.CreateRecipient(
                recipient_service_pb2.CreateRecipientRequest(
                    recipient=webhook("acme", receiver.url, signing_secret)
                )
            )
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await secured.admin.recipients.GetRecipient(
                recipient_service_pb2.GetRecipientRequest(recipient_id="acme")
            )

    assert failed.value.code() == grpc.StatusCode.INTERNAL
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_role_that_may_only_insert_and_read_records_keeps_them_all(
    secured: Secured, postgres: PostgresCluster, database_url: str
) -> None:
    async with role_without(
        postgres, database_url, "UPDATE, DELETE, TRUNCATE ON audit_records"
    ) as insert_only:
        pool = await create_pool(insert_only, 1)
        try:
            await pool.execute(
                "INSERT INTO audit_records (id, create_time, actor, actor_kind, action, target)"
                " VALUES ('aud_old', now() - interval '400 days', 'x', 'anonymous', 'a', 't')"
            )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await prune_audit_records(pool, datetime.now(UTC))
            count = await pool.fetchval("SELECT count(*) FROM audit_records")
        finally:
            await pool.close()

    assert count == 2


async def test_every_change_of_a_call_that_fails_validation_leaves_no_record(
    secured: Secured,
) -> None:
    bad = recipient_pb2.Recipient(id="acme", transport="webhook")  # no url

    with pytest.raises(grpc.aio.AioRpcError):
        await secured.admin.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=bad)
        )

    assert await records(secured.admin, 'action = "recipient.create"') == []
    assert await eventually(lambda: _count(secured.admin), timeout=1) == 1


async def _delivered(calls: Calls, feedback_id: str) -> bool:
    got = await calls.feedback.GetFeedback(
        feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
    )
    return got.deliveries[0].state == feedback_service_pb2.DELIVERY_STATE_SUCCEEDED


async def _count(calls: Calls) -> int:
    return len(await records(calls))
