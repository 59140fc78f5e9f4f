"""Sealing secret settings with AES-256-GCM, each value on its own.

A value is sealed with a fresh 96-bit random nonce under the ring's newest key. The
associated data binds it to the key id, the recipient id and the setting's name, so a
ciphertext copied to another row, another setting or relabelled with another key id does
not open: it fails as altered. Values are sealed as their JSON text (a secret may be a
list: webhook signing secrets).

AES-GCM rather than ChaCha20-Poly1305: both are AEADs ``cryptography`` provides; AES-GCM
runs on the AES instructions every server CPU has, is the one FIPS 140 lists, and the
nonce limit of a random 96-bit nonce (2**32 values per key) is far beyond the secrets one
key seals between rotations.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backchannel.model import SealedSecret
from backchannel.sealing.key_ring import KeyRing, SecretKey

NONCE_BYTES = 12
#: Changes when what is sealed, or how, changes; part of the associated data.
FORMAT = "backchannel.secret.v1"


class SecretsUnreadable(Exception):
    """A sealed secret cannot be opened. The message names the recipient, the setting and
    the key id, never a value."""

    key_id: str


class UnknownSecretKey(SecretsUnreadable):
    """Sealed under a key id this process is not configured with."""

    def __init__(self, key_id: str, recipient_id: str, name: str, ring: KeyRing) -> None:
        configured = ", ".join(repr(i) for i in ring.ids) or "none"
        super().__init__(
            f"secret setting {name!r} of recipient {recipient_id!r} is sealed under key id "
            f"{key_id!r}, which is not configured (configured: {configured}; add the key to "
            "BACKCHANNEL_SECRET_KEYS or the key file)"
        )
        self.key_id = key_id


class SecretDoesNotOpen(SecretsUnreadable):
    """The key is known but the value does not open with it: altered, moved from another
    row or setting, or the key under that id is not the one it was sealed with."""

    def __init__(self, key_id: str, recipient_id: str, name: str) -> None:
        super().__init__(
            f"secret setting {name!r} of recipient {recipient_id!r} does not open with key "
            f"{key_id!r}: it was altered or copied from elsewhere, or that key id stands for "
            "another key here"
        )
        self.key_id = key_id


class NoSecretKey(Exception):
    """Secrets are to be sealed but no key is configured."""

    def __init__(self) -> None:
        super().__init__(
            "secret settings cannot be stored: no secret key is configured "
            "(set BACKCHANNEL_SECRET_KEYS or BACKCHANNEL_SECRET_KEY_FILE)"
        )


def associated_data(key_id: str, recipient_id: str, name: str) -> bytes:
    # A JSON array: no choice of id or name can make two different triples read alike.
    return json.dumps([FORMAT, key_id, recipient_id, name]).encode("utf-8")


def seal(key: SecretKey, recipient_id: str, name: str, value: Any) -> SealedSecret:
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(value, separators=(",", ":")).encode("utf-8")
    ciphertext = AESGCM(key.material).encrypt(
        nonce, plaintext, associated_data(key.id, recipient_id, name)
    )
    return SealedSecret(key.id, nonce, ciphertext)


def open_sealed(ring: KeyRing, recipient_id: str, name: str, sealed: SealedSecret) -> Any:
    key = ring.get(sealed.key_id)
    if key is None:
        raise UnknownSecretKey(sealed.key_id, recipient_id, name, ring)
    try:
        plaintext = AESGCM(key.material).decrypt(
            sealed.nonce, sealed.ciphertext, associated_data(key.id, recipient_id, name)
        )
    except (InvalidTag, ValueError):
        raise SecretDoesNotOpen(sealed.key_id, recipient_id, name) from None
    return json.loads(plaintext)


def seal_secrets(
    ring: KeyRing, recipient_id: str, secrets: Mapping[str, Any]
) -> dict[str, SealedSecret]:
    """Each of ``secrets`` sealed under the newest key of ``ring``."""
    if not secrets:
        return {}
    key = ring.newest
    if key is None:
        raise NoSecretKey()
    return {name: seal(key, recipient_id, name, value) for name, value in secrets.items()}


def open_secrets(
    ring: KeyRing, recipient_id: str, sealed: Mapping[str, SealedSecret]
) -> dict[str, Any]:
    """The values of ``sealed``; SecretsUnreadable when any does not open."""
    return {name: open_sealed(ring, recipient_id, name, value) for name, value in sealed.items()}
