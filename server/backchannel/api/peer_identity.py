"""Who the caller is, by the client certificate its TLS connection was verified with.

With ``BACKCHANNEL_TLS_CLIENT_AUTH=require`` grpc completes a handshake only with a client
certificate signed by a CA of ``BACKCHANNEL_TLS_CLIENT_CA_FILE``, and puts that
certificate in the call's auth context (``x509_pem_cert``). Without TLS, or with client
certificates not asked for, there is no certificate and no identity: the listener never
requests one without verifying it, so a certificate in the auth context is always a
verified one.

The identity is the certificate's first URI SAN (a SPIFFE id such as
``spiffe://example.org/crm-sync``), else its first DNS SAN, else its subject's CN. A
certificate whose names cannot be read, or whose chosen name is empty or holds control
characters, gives no identity rather than a guess.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Protocol

from cryptography import x509
from cryptography.x509.oid import NameOID


class HasAuthContext(Protocol):
    """What peer_identity needs of a servicer context (grpc's and grpc.aio's have it)."""

    def auth_context(self) -> Mapping[str, Iterable[bytes]]: ...


def peer_identity(context: HasAuthContext) -> str | None:
    """The caller's identity from its verified client certificate; None without one."""
    auth = context.auth_context()
    if list(auth.get("transport_security_type", ())) != [b"ssl"]:
        return None
    certificates = list(auth.get("x509_pem_cert", ()))
    if not certificates:
        return None
    return certificate_identity(certificates[0])


@functools.lru_cache(maxsize=1024)
def certificate_identity(pem: bytes) -> str | None:
    """The identity a PEM certificate names: URI SAN, else DNS SAN, else CN. Cached: a
    caller's connection carries the same certificate on every call."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
        names = _alternative_names(certificate)
        uris = names.get_values_for_type(x509.UniformResourceIdentifier) if names else []
        dns_names = names.get_values_for_type(x509.DNSName) if names else []
        common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return None
    if uris:
        chosen: str | bytes = uris[0]
    elif dns_names:
        chosen = dns_names[0]
    elif common_names:
        chosen = common_names[0].value
    else:
        return None
    if isinstance(chosen, bytes):
        chosen = chosen.decode("utf-8", "replace")
    if not chosen or any(ord(c) < 0x20 or ord(c) == 0x7F for c in chosen):
        return None
    return chosen


def _alternative_names(certificate: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
