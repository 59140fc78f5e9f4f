"""The Python clients (sync and asyncio) against a server that requires a token: the token
from ``token=`` or ``$BACKCHANNEL_TOKEN``, sent with every call and stream; never in
plaintext to another machine unless ``insecure``; tokens made, listed and revoked, and
the audit trail read, through the client."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from backchannel_client import AsyncClient, Client, PermissionDeniedError, UnauthenticatedError
from support.access import Secured
from support.brief_example import BRIEF_EXAMPLE
from support.receiver import WebhookReceiver
from support.webhook_recipients import webhook_recipient


async def test_a_client_without_a_token_is_refused(secured: Secured) -> None:
    with Client(secured.running.address) as client, pytest.raises(UnauthenticatedError):
        await asyncio.to_thread(lambda: list(client.list_recipients()))


async def test_the_token_comes_from_backchannel_token_when_not_given(
    secured: Secured, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKCHANNEL_TOKEN", secured.admin_token.text)

    with Client(secured.running.address) as client:
        listed = await asyncio.to_thread(lambda: list(client.list_tokens()))

    assert [t.name for t in listed] == ["admin"]


async def test_tokens_are_made_used_listed_and_revoked_through_the_client(
    secured: Secured,
) -> None:
    with Client(secured.running.address, token=secured.admin_token.text) as admin:
        made = await asyncio.to_thread(
            lambda: admin.create_token(
                "crm-sync",
                ["feedback:send"],
                source_ids=["SOURCE_ABC"],
                expires=timedelta(days=30),
            )
        )
        with Client(secured.running.address, token=made.secret) as crm:
            sent = await asyncio.to_thread(crm.send_feedback, BRIEF_EXAMPLE)
            with pytest.raises(PermissionDeniedError) as denied:
                await asyncio.to_thread(lambda: list(crm.list_tokens()))
        revoked = await asyncio.to_thread(admin.revoke_token, made.token.id)
        trail = await asyncio.to_thread(
            lambda: [r.action for r in admin.list_audit_records('action = "token.revoke"')]
        )

    assert sent.feedback.lead.source_id == "SOURCE_ABC"
    assert made.token.expire_time.seconds > 0
    assert denied.value.metadata == {"scope": "tokens:admin"}
    assert revoked.revoked and trail == ["token.revoke"]


async def test_the_async_client_sends_its_token_with_calls_and_streams(
    secured: Secured, receiver: WebhookReceiver, signing_secret: str
) -> None:
    async with AsyncClient(secured.running.address, token=secured.admin_token.text) as client:
        await client.create_recipient(webhook_recipient("acme", receiver.url, signing_secret))
        sent = await client.send_feedback(BRIEF_EXAMPLE, ["acme"])
        made = await client.create_token("reader", ["feedback:read"])
        listed = [t.name async for t in client.list_tokens()]
        records = [r.action async for r in client.list_audit_records()]
    async with (
        AsyncClient(secured.running.address, token=made.secret) as reader,
        reader.follow_events(from_beginning=True) as events,
    ):
        first = await asyncio.wait_for(anext(aiter(events)), 15)

    assert first.feedback_id == sent.feedback.id
    assert sorted(listed) == ["admin", "reader"]
    assert records == ["token.create", "recipient.create", "token.create"]


def test_a_token_is_never_sent_in_plaintext_to_another_machine() -> None:
    with pytest.raises(ValueError, match=r"plaintext connection to 10\.1\.2\.3:50051"):
        Client("10.1.2.3:50051", token="bck_" + "A" * 43)
    with pytest.raises(ValueError, match="plaintext"):
        AsyncClient("backchannel.internal:50051", token="bck_" + "A" * 43)


def test_it_may_be_to_loopback_or_when_insecure_says_so() -> None:
    Client("127.0.0.1:50051", token="bck_" + "A" * 43).close()
    Client("localhost:50051", token="bck_" + "A" * 43).close()
    Client("10.1.2.3:50051", token="bck_" + "A" * 43, insecure=True).close()
    Client("10.1.2.3:50051", token="bck_" + "A" * 43, tls=True).close()
