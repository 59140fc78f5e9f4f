"""Stored secrets do not follow a changed destination: an UpdateRecipient that changes where
a recipient points (a webhook's URL, an SFTP or SMTP server, its account, the host key or
CA it trusts) must give the recipient's secrets again, as a browser drops credentials on a
cross-origin redirect. Otherwise a caller allowed to edit a recipient could point it at a
server of its own and have TestRecipient (or the next delivery) hand it the password."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from backchannel_client.v1 import recipient_pb2, recipient_service_pb2
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver, running_receiver
from support.recipient_calls import create, invalid_fields, struct, update
from support.smtp_server import Certificates

TOKEN = "tok-stays-with-its-origin-8c1f"
NEW_TOKEN = "tok-given-again-for-the-new-url-51d0"


@pytest.fixture
async def other_receiver() -> AsyncIterator[WebhookReceiver]:
    async with running_receiver() as sink:
        yield sink


def bearer_recipient(url: str) -> recipient_pb2.Recipient:
    return recipient_pb2.Recipient(
        id="bearer",
        recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
        transport="webhook",
        transport_settings=struct({"url": url, "auth": "bearer"}),
        secret_settings=struct({"bearer_token": TOKEN}),
    )


async def test_a_changed_webhook_url_needs_the_bearer_token_again_and_gets_nothing_sent(
    backchannel: RunningServer, receiver: WebhookReceiver, other_receiver: WebhookReceiver
) -> None:
    await create(backchannel, bearer_recipient(receiver.url))
    moved = recipient_pb2.Recipient(
        id="bearer", transport_settings=struct({"url": other_receiver.url, "auth": "bearer"})
    )

    fields = await invalid_fields(update(backchannel, moved, "transport_settings"))
    await backchannel.recipients.TestRecipient(
        recipient_service_pb2.TestRecipientRequest(recipient_id="bearer")
    )

    assert fields == ["recipient.secret_settings.bearer_token"]
    assert other_receiver.requests == []
    [test_message] = receiver.requests
    assert test_message.headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_changed_secret_url_needs_the_other_secrets_again(
    backchannel: RunningServer, receiver: WebhookReceiver, other_receiver: WebhookReceiver
) -> None:
    await create(
        backchannel,
        recipient_pb2.Recipient(
            id="signed",
            recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
            transport="webhook",
            transport_settings=struct({"auth": "bearer"}),
            secret_settings=struct({"url": receiver.url, "bearer_token": TOKEN}),
        ),
    )
    moved = recipient_pb2.Recipient(
        id="signed", secret_settings=struct({"url": other_receiver.url})
    )

    assert await invalid_fields(update(backchannel, moved, "secret_settings")) == [
        "recipient.secret_settings.bearer_token"
    ]


async def test_the_secrets_given_again_with_the_new_url_are_the_ones_sent_there(
    backchannel: RunningServer, receiver: WebhookReceiver, other_receiver: WebhookReceiver
) -> None:
    await create(backchannel, bearer_recipient(receiver.url))
    moved = recipient_pb2.Recipient(
        id="bearer",
        transport_settings=struct({"url": other_receiver.url, "auth": "bearer"}),
        secret_settings=struct({"bearer_token": NEW_TOKEN}),
    )

    updated = await update(backchannel, moved, "transport_settings", "secret_settings")
    tested = await backchannel.recipients.TestRecipient(
        recipient_service_pb2.TestRecipientRequest(recipient_id="bearer")
    )

    assert list(updated.secret_setting_names) == ["bearer_token"]
    assert tested.passed
    [test_message] = other_receiver.requests
    assert test_message.headers["authorization"] == f"Bearer {NEW_TOKEN}"


async def test_a_change_that_keeps_the_destination_keeps_the_secrets(
    backchannel: RunningServer, receiver: WebhookReceiver
) -> None:
    await create(backchannel, bearer_recipient(receiver.url))
    slower = recipient_pb2.Recipient(
        id="bearer",
        transport_settings=struct({"url": receiver.url, "auth": "bearer", "timeout_seconds": 9}),
    )

    await update(backchannel, slower, "transport_settings")
    tested = await backchannel.recipients.TestRecipient(
        recipient_service_pb2.TestRecipientRequest(recipient_id="bearer")
    )

    assert tested.passed
    [test_message] = receiver.requests
    assert test_message.headers["authorization"] == f"Bearer {TOKEN}"


# --- sftp ----------------------------------------------------------------------------------


def host_key_line(patterns: str) -> str:
    key = asyncssh.generate_private_key("ssh-ed25519")
    return f"{patterns} {key.export_public_key().decode().strip()}"


SFTP_SETTINGS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 2222,
    "username": "feedback",
    "directory": "/incoming",
}


@pytest.mark.parametrize(
    "change",
    [
        {"host": "localhost"},
        {"port": 2223},
        {"username": "someone-else"},
        {"known_hosts": "another key"},
    ],
    ids=lambda change: next(iter(change)),
)
async def test_a_changed_sftp_server_account_or_host_key_needs_the_password_again(
    backchannel: RunningServer, change: dict[str, Any]
) -> None:
    patterns = "[127.0.0.1]:2222,[127.0.0.1]:2223,[localhost]:2222"
    known_hosts = host_key_line(patterns)
    await create(
        backchannel,
        recipient_pb2.Recipient(
            id="drop",
            recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
            transport="sftp",
            transport_settings=struct({**SFTP_SETTINGS, "known_hosts": known_hosts}),
            secret_settings=struct({"password": "sftp-Pa55word-kept"}),
        ),
    )
    if "known_hosts" in change:
        change = {"known_hosts": host_key_line(patterns)}
    moved = recipient_pb2.Recipient(
        id="drop",
        transport_settings=struct({**SFTP_SETTINGS, "known_hosts": known_hosts, **change}),
    )

    assert await invalid_fields(update(backchannel, moved, "transport_settings")) == [
        "recipient.secret_settings.password"
    ]


# --- email ---------------------------------------------------------------------------------


EMAIL_SETTINGS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 2525,
    "username": "backchannel",
    "from_address": "feedback@backchannel.example",
    "to": ["partner@example.com"],
}


def mail_recipient() -> recipient_pb2.Recipient:
    return recipient_pb2.Recipient(
        id="mail",
        recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
        transport="email",
        transport_settings=struct(EMAIL_SETTINGS),
        secret_settings=struct({"password": "smtp-Pa55word-kept"}),
    )


@pytest.mark.parametrize(
    "change",
    [
        {"host": "localhost"},
        {"port": 2526},
        {"username": "someone-else"},
        {"verify_certificate": False},
        {"ca_certificate": "a CA of its own"},
        {"tls": "implicit"},
    ],
    ids=lambda change: next(iter(change)),
)
async def test_a_changed_smtp_server_account_or_trust_needs_the_password_again(
    backchannel: RunningServer, tmp_path: Path, change: dict[str, Any]
) -> None:
    await create(backchannel, mail_recipient())
    if "ca_certificate" in change:
        change = {"ca_certificate": Certificates.create(tmp_path).ca_pem}
    moved = recipient_pb2.Recipient(
        id="mail", transport_settings=struct({**EMAIL_SETTINGS, **change})
    )

    assert await invalid_fields(update(backchannel, moved, "transport_settings")) == [
        "recipient.secret_settings.password"
    ]


async def test_a_changed_email_list_keeps_the_password(backchannel: RunningServer) -> None:
    await create(backchannel, mail_recipient())
    more = recipient_pb2.Recipient(
        id="mail",
        transport_settings=struct({**EMAIL_SETTINGS, "cc": ["boss@example.com"]}),
    )

    updated = await update(backchannel, more, "transport_settings")

    assert list(updated.secret_setting_names) == ["password"]


async def test_a_changed_transport_needs_the_password_again(backchannel: RunningServer) -> None:
    """An SFTP password must not become the password sent to an SMTP server of the
    editor's choosing, though both transports call it ``password``."""
    await create(
        backchannel,
        recipient_pb2.Recipient(
            id="moved",
            recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
            transport="sftp",
            transport_settings=struct(
                {**SFTP_SETTINGS, "known_hosts": host_key_line("[127.0.0.1]:2222")}
            ),
            secret_settings=struct({"password": "sftp-Pa55word-kept"}),
        ),
    )
    emailed = recipient_pb2.Recipient(
        id="moved", transport="email", transport_settings=struct(EMAIL_SETTINGS)
    )

    fields = await invalid_fields(update(backchannel, emailed, "transport", "transport_settings"))

    assert fields == ["recipient.secret_settings.password"]
