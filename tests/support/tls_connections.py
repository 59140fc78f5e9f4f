"""Connecting to a TLS listener the way a client would: gRPC channel credentials for the
files of an mTLS setup, the server settings that serve them, and the certificate a new
connection is shown (read from a real handshake with Python's ssl module)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any, Literal

import grpc
from cryptography import x509

from support.certificates import TlsFiles

#: Which client certificate a connection presents: the CA's, the forger's, or none.
ClientCertificate = Literal["client", "forged", "none"]


def tls_server_settings(files: TlsFiles, **overrides: Any) -> dict[str, Any]:
    """Settings (for settings_for_test/serving) of a listener that requires client
    certificates signed by the files' CA."""
    return {
        "tls_cert_file": str(files.server_certificate),
        "tls_key_file": str(files.server_key),
        "tls_client_ca_file": str(files.ca),
        **overrides,
    }


def channel_credentials(
    files: TlsFiles, client: ClientCertificate = "client", trust: bytes | None = None
) -> grpc.ChannelCredentials:
    """Credentials trusting ``trust`` (default: the files' CA) that present ``client``."""
    root = trust if trust is not None else files.ca.read_bytes()
    if client == "none":
        return grpc.ssl_channel_credentials(root)
    certificate, key = (
        (files.client_certificate, files.client_key)
        if client == "client"
        else (files.forged_certificate, files.forged_key)
    )
    return grpc.ssl_channel_credentials(root, key.read_bytes(), certificate.read_bytes())


async def presented_certificate(port: int, files: TlsFiles) -> x509.Certificate:
    """The certificate the listener on 127.0.0.1:``port`` shows a new connection (which
    presents the files' client certificate and trusts anything: only what is shown
    matters here)."""

    def handshake() -> bytes:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
        context.load_cert_chain(files.client_certificate, files.client_key)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as connection,
        ):
            der = connection.getpeercert(binary_form=True)
        assert der is not None
        return der

    return x509.load_der_x509_certificate(await asyncio.to_thread(handshake))
