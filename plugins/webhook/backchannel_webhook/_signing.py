"""Standard Webhooks signatures: ``v1,`` + base64 HMAC-SHA256 over ``id.timestamp.body``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
#: The spec asks for keys of 24 to 64 bytes.
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64


class InvalidSigningSecret(ValueError):
    """A signing secret is not ``whsec_`` followed by the base64 of a 24 to 64 byte key.

    The message never contains the secret.
    """


def signing_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_…`` secret carries (padding after the base64 is optional)."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSigningSecret(f"must start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSigningSecret(f"must be {SECRET_PREFIX!r} followed by base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise InvalidSigningSecret(
            f"must carry a key of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(key)}"
        )
    return key


def signature_header(keys: Sequence[bytes], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<sig>`` per key, separated by spaces."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
        for key in keys
    )


def signature_header_for_stream(keys: Sequence[bytes], message_id: str, timestamp: int) -> _Signer:
    """A signer fed the body a chunk at a time; ``header()`` gives the same value as
    :func:`signature_header` over the whole body."""
    return _Signer(keys, f"{message_id}.{timestamp}.".encode())


class _Signer:
    def __init__(self, keys: Sequence[bytes], prefix: bytes) -> None:
        self._macs = [hmac.new(key, prefix, hashlib.sha256) for key in keys]

    def update(self, chunk: bytes) -> None:
        for mac in self._macs:
            mac.update(chunk)

    def header(self) -> str:
        return " ".join(
            "v1," + base64.b64encode(mac.digest()).decode("ascii") for mac in self._macs
        )
