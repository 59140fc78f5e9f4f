"""peer_identity over real handshakes: a gRPC server with the listener's own credentials
(ListenerTls) answers each call with the identity it read from the call's auth context:
the client certificate's URI SAN, else its DNS SAN, else its CN; none without a verified
client certificate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.certificates import CLIENT_SPIFFE_ID, CertificateAuthority, Issued, write_tls_files
from support.in_process_server import settings_for_test

from backchannel.api.listener_tls import ListenerTls
from backchannel.api.peer_identity import certificate_identity, peer_identity


class IdentityServer:
    """Answers /test.Identity/Who with the caller's peer_identity ("" for None)."""

    def __init__(self, folder: Path, authority: CertificateAuthority, require: bool) -> None:
        files = write_tls_files(folder, authority)
        settings = settings_for_test(
            "",
            tls_cert_file=str(files.server_certificate),
            tls_key_file=str(files.server_key),
            tls_client_ca_file=str(files.ca) if require else "",
        )
        tls = ListenerTls.from_settings(settings)
        assert tls is not None
        self.ca = authority.certificate
        self.server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        self.server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "test.Identity", {"Who": grpc.unary_unary_rpc_method_handler(self._who)}
                )
            ]
        )
        self.port = self.server.add_secure_port("127.0.0.1:0", tls.server_credentials())

    async def _who(self, request: bytes, context: Any) -> bytes:
        return (peer_identity(context) or "").encode()

    async def ask(self, client: Issued | None) -> str:
        credentials = grpc.ssl_channel_credentials(
            self.ca,
            client.key if client else None,
            client.certificate if client else None,
        )
        async with grpc.aio.secure_channel(f"127.0.0.1:{self.port}", credentials) as channel:
            answer: bytes = await channel.unary_unary("/test.Identity/Who")(b"", timeout=10)
        return answer.decode()


@pytest.fixture
def authority() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture
async def mtls_server(
    tmp_path: Path, authority: CertificateAuthority
) -> AsyncIterator[IdentityServer]:
    server = IdentityServer(tmp_path, authority, require=True)
    await server.server.start()
    try:
        yield server
    finally:
        await server.server.stop(None)


async def test_the_identity_is_the_uri_san_when_there_is_one(
    mtls_server: IdentityServer, authority: CertificateAuthority
) -> None:
    client = authority.issue(
        common_name="crm-sync", dns_names=["crm-sync.internal"], uris=[CLIENT_SPIFFE_ID],
        client=True,
    )  # fmt: skip

    assert await mtls_server.ask(client) == CLIENT_SPIFFE_ID


async def test_without_a_uri_san_the_identity_is_the_dns_san(
    mtls_server: IdentityServer, authority: CertificateAuthority
) -> None:
    client = authority.issue(common_name="crm-sync", dns_names=["crm-sync.internal"], client=True)

    assert await mtls_server.ask(client) == "crm-sync.internal"


async def test_without_alternative_names_the_identity_is_the_common_name(
    mtls_server: IdentityServer, authority: CertificateAuthority
) -> None:
    client = authority.issue(common_name="billing-exporter", client=True)

    assert await mtls_server.ask(client) == "billing-exporter"


async def test_without_a_client_certificate_there_is_no_identity(
    tmp_path: Path, authority: CertificateAuthority
) -> None:
    server = IdentityServer(tmp_path, authority, require=False)
    await server.server.start()
    try:
        # Offered but never asked for: the listener does not request client certificates.
        offered = await server.ask(authority.client_certificate())
        none = await server.ask(None)
    finally:
        await server.server.stop(None)

    assert (offered, none) == ("", "")


async def test_a_plaintext_call_has_no_identity() -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    seen: list[str | None] = []

    async def who(request: bytes, context: Any) -> bytes:
        seen.append(peer_identity(context))
        return b""

    handler = grpc.unary_unary_rpc_method_handler(who)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.I", {"W": handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await channel.unary_unary("/t.I/W")(b"", timeout=10)
    finally:
        await server.stop(None)

    assert seen == [None]


def test_a_name_with_control_characters_gives_no_identity(
    authority: CertificateAuthority,
) -> None:
    nul = authority.issue(uris=["spiffe://backchannel.test/a\x00b"], client=True)
    newline = authority.issue(common_name="crm\nsync", client=True)

    assert certificate_identity(nul.certificate) is None
    assert certificate_identity(newline.certificate) is None


def test_a_certificate_without_names_gives_no_identity(authority: CertificateAuthority) -> None:
    assert certificate_identity(authority.issue(client=True).certificate) is None
