"""Callers known by their client certificate, on the real server: its TLS listener requires
client certificates (real mTLS handshakes, certificates made in the test), authentication
is on, and BACKCHANNEL_CERTIFICATE_GRANTS says what each identity may do. An identity
may do what its grant says and nothing more; a certificate from another CA never gets
in; a bearer token, when sent too, is who calls; the audit trail names the identity."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from backchannel_client.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    recipient_pb2,
    recipient_service_pb2,
    recipient_service_pb2_grpc,
)
from support.access import bearer, bootstrap_admin
from support.certificates import CLIENT_SPIFFE_ID, TlsFiles, write_tls_files
from support.in_process_server import RunningServer, serving
from support.rpc_errors import rich_error
from support.tls_connections import channel_credentials, tls_server_settings

from backchannel.certificate_grants import parse_certificate_grants

#: As BACKCHANNEL_CERTIFICATE_GRANTS gives them.
GRANTS = parse_certificate_grants(
    json.dumps({CLIENT_SPIFFE_ID: {"scopes": ["recipients:write", "audit:read"]}})
)


@pytest.fixture
def files(tmp_path: Path) -> TlsFiles:
    return write_tls_files(tmp_path)


@pytest.fixture
async def mutual_tls(database_url: str, files: TlsFiles) -> AsyncIterator[RunningServer]:
    """The server with mTLS and authentication on; its channel presents the client
    certificate whose identity is CLIENT_SPIFFE_ID."""
    settings = tls_server_settings(files, auth="on", certificate_grants=GRANTS)
    async with serving(database_url, credentials=channel_credentials(files), **settings) as running:
        yield running


def recipient(recipient_id: str) -> recipient_pb2.Recipient:
    made = recipient_pb2.Recipient(
        id=recipient_id, recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE, transport="webhook"
    )
    made.transport_settings.update({"url": "http://127.0.0.1:9/hook"})
    return made


async def test_an_identity_does_what_its_grant_says_and_is_named_in_the_audit_trail(
    mutual_tls: RunningServer,
) -> None:
    await mutual_tls.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=recipient("acme"))
    )
    trail = await audit_service_pb2_grpc.AuditServiceStub(mutual_tls.channel).ListAuditRecords(
        audit_service_pb2.ListAuditRecordsRequest(filter='action = "recipient.create"')
    )

    [record] = trail.records
    assert (record.actor, record.actor_kind, record.actor_token_id) == (
        CLIENT_SPIFFE_ID,
        "certificate",
        "",
    )


async def test_an_identity_without_the_scope_is_denied_naming_it(
    mutual_tls: RunningServer,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mutual_tls.recipients.ListRecipients(recipient_service_pb2.ListRecipientsRequest())

    error = rich_error(caught.value)
    assert (error.code, error.error_info.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "SCOPE_MISSING",
    )
    assert dict(error.error_info.metadata) == {"scope": "recipients:read"}


async def test_an_identity_the_grants_do_not_name_may_do_nothing(
    database_url: str, files: TlsFiles
) -> None:
    others = parse_certificate_grants(
        json.dumps({"spiffe://backchannel.test/someone-else": {"scopes": ["recipients:read"]}})
    )
    settings = tls_server_settings(files, auth="on", certificate_grants=others)
    async with serving(database_url, credentials=channel_credentials(files), **settings) as running:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await running.recipients.ListRecipients(recipient_service_pb2.ListRecipientsRequest())

    assert rich_error(caught.value).code == grpc.StatusCode.PERMISSION_DENIED


async def test_a_certificate_from_another_ca_never_gets_in(
    mutual_tls: RunningServer, files: TlsFiles
) -> None:
    forged = channel_credentials(files, client="forged")
    async with grpc.aio.secure_channel(mutual_tls.address, forged) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await recipient_service_pb2_grpc.RecipientServiceStub(channel).CreateRecipient(
                recipient_service_pb2.CreateRecipientRequest(recipient=recipient("forged")),
                timeout=10,
            )

    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_bearer_token_sent_too_is_who_calls(
    mutual_tls: RunningServer, database_url: str
) -> None:
    token = await bootstrap_admin(database_url, name="batch-job")

    listed = await mutual_tls.recipients.ListRecipients(
        recipient_service_pb2.ListRecipientsRequest(), metadata=bearer(token.text)
    )
    await mutual_tls.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=recipient("by-token")),
        metadata=bearer(token.text),
    )
    trail = await audit_service_pb2_grpc.AuditServiceStub(mutual_tls.channel).ListAuditRecords(
        audit_service_pb2.ListAuditRecordsRequest(filter='target = "recipients/by-token"')
    )

    assert list(listed.recipients) == []  # allowed: the token may read recipients
    assert [(r.actor, r.actor_token_id) for r in trail.records] == [("batch-job", token.id)]
