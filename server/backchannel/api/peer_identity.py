"""Who a caller is by its client certificate (mTLS).

The TLS listener verifies a client certificate against its CA bundle during the
handshake; grpc then puts the certificate's names in the call's auth context (and puts
none when no certificate was verified). The identity is the first URI SAN (a SPIFFE id
such as ``spiffe://example.org/crm``), else the first DNS SAN, else the subject's CN.
"""

from __future__ import annotations

from typing import Any

import grpc

_ORDER = ("peer_uri", "peer_dns", "x509_common_name")


def peer_identity(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    """The verified client certificate's identity, or None (no TLS, or no certificate)."""
    properties = context.auth_context()
    if not properties or properties.get("transport_security_type") != [b"ssl"]:
        return None
    for name in _ORDER:
        for value in properties.get(name) or ():
            return bytes(value).decode("utf-8", errors="replace")
    return None
