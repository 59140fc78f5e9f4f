"""Callers known by their client certificate: real mTLS handshakes (certificates made in
the test) with a grpc.aio server running the authentication interceptor. The identity is
the certificate's URI SAN, else its DNS SAN, else its CN, and it may do what
certificate_grants says, nothing more; a certificate from another CA never gets in; a
bearer token, when sent too, is who calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
from backchannel_client.v1 import feedback_pb2, feedback_service_pb2, feedback_service_pb2_grpc
from support.access import bearer
from support.certificates import Authority, KeyPair, loopback_server_pair, new_authority
from support.rpc_errors import rich_error

from backchannel.api.caller import current_caller
from backchannel.api.interceptors import api_interceptors
from backchannel.api.interceptors.authentication import Authentication
from backchannel.api.token_verifier import TokenVerifier
from backchannel.local_tokens import bootstrap_token
from backchannel.model import Grant, Scope

SERVICE = feedback_service_pb2.DESCRIPTOR.services_by_name["FeedbackService"].full_name
GRANTS = {
    "spiffe://example.org/crm": Grant(scopes=frozenset({Scope.FEEDBACK_SEND})),
    "crm.internal": Grant(scopes=frozenset({Scope.FEEDBACK_SEND})),
    "crm-by-name": Grant(scopes=frozenset({Scope.FEEDBACK_SEND})),
    "reader.internal": Grant(scopes=frozenset({Scope.FEEDBACK_READ})),
}


class CallerEcho(feedback_service_pb2_grpc.FeedbackServiceServicer):
    """Answers SendFeedback with the caller it sees, in the feedback id."""

    async def SendFeedback(
        self, request: feedback_service_pb2.SendFeedbackRequest, context: object
    ) -> feedback_service_pb2.SendFeedbackResponse:
        return feedback_service_pb2.SendFeedbackResponse(
            feedback=feedback_pb2.Feedback(id=current_caller().name)
        )


@dataclass
class MutualTls:
    authority: Authority
    port: int

    async def caller_seen(self, client: KeyPair, metadata: tuple[tuple[str, str], ...] = ()) -> str:
        credentials = grpc.ssl_channel_credentials(
            self.authority.certificate_pem, client.key_pem, client.certificate_pem
        )
        async with grpc.aio.secure_channel(f"127.0.0.1:{self.port}", credentials) as channel:
            answer = await feedback_service_pb2_grpc.FeedbackServiceStub(channel).SendFeedback(
                feedback_service_pb2.SendFeedbackRequest(request_id="r"),
                metadata=metadata,
                timeout=10,
            )
        name: str = answer.feedback.id
        return name


@pytest.fixture
async def mutual_tls(store_pool: asyncpg.Pool) -> AsyncIterator[MutualTls]:
    authority = new_authority()
    server_pair = loopback_server_pair(authority)
    authentication = Authentication([SERVICE], TokenVerifier(store_pool, 5.0), GRANTS)
    server = grpc.aio.server(interceptors=api_interceptors([SERVICE], authentication))
    feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server(CallerEcho(), server)
    credentials = grpc.ssl_server_credentials(
        [(server_pair.key_pem, server_pair.certificate_pem)],
        root_certificates=authority.certificate_pem,
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        yield MutualTls(authority, port)
    finally:
        await server.stop(None)


async def test_the_uri_san_is_the_identity(mutual_tls: MutualTls) -> None:
    client = mutual_tls.authority.issue(
        "crm-by-name", uris=("spiffe://example.org/crm",), dns_names=("crm.internal",)
    )

    assert await mutual_tls.caller_seen(client) == "spiffe://example.org/crm"


async def test_without_a_uri_san_the_dns_san_is_the_identity(mutual_tls: MutualTls) -> None:
    client = mutual_tls.authority.issue("crm-by-name", dns_names=("crm.internal",))

    assert await mutual_tls.caller_seen(client) == "crm.internal"


async def test_without_any_san_the_cn_is_the_identity(mutual_tls: MutualTls) -> None:
    assert await mutual_tls.caller_seen(mutual_tls.authority.issue("crm-by-name")) == "crm-by-name"


@pytest.mark.parametrize("identity", ["stranger.internal", "reader.internal"])
async def test_an_identity_without_the_scope_is_denied_naming_it(
    mutual_tls: MutualTls, identity: str
) -> None:
    client = mutual_tls.authority.issue("x", dns_names=(identity,))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mutual_tls.caller_seen(client)

    error = rich_error(caught.value)
    assert (error.code, error.error_info.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "SCOPE_MISSING",
    )
    assert dict(error.error_info.metadata) == {"scope": "feedback:send"}


async def test_a_certificate_from_another_ca_never_gets_in(mutual_tls: MutualTls) -> None:
    forger = new_authority("Forger CA")
    forged = forger.issue("crm-by-name", uris=("spiffe://example.org/crm",))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mutual_tls.caller_seen(forged)

    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_bearer_token_sent_too_is_who_calls(
    mutual_tls: MutualTls, store_pool: asyncpg.Pool
) -> None:
    text, _ = await bootstrap_token(store_pool, "batch-job", "tester@tests")
    client = mutual_tls.authority.issue("x", uris=("spiffe://example.org/crm",))

    assert await mutual_tls.caller_seen(client, bearer(text)) == "batch-job"
