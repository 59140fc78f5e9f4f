"""The keys secret settings are sealed with: a ring of AES-256 keys, each with an id,
newest first. New secrets are sealed with the newest; the others only open what was sealed
with them before, until ``backchannel secrets rotate`` has sealed everything again with the
newest and they can be retired.

Written ``id:base64-key`` (32 bytes of key), entries separated by commas or lines, as
``BACKCHANNEL_SECRET_KEYS`` and a key file (where ``#`` starts a comment) give them::

    2025-06:3q2+7w...=,2024-11:q83v...=

No message here ever holds key material: a problem names the entry by its position or id.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: A key id: what a sealed value records to say which key opens it.
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: AES-256.
KEY_BYTES = 32


class KeyRingError(ValueError):
    """The key ring's text is not usable; the message names what, never a key."""


@dataclass(frozen=True)
class SecretKey:
    id: str
    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not KEY_ID.fullmatch(self.id):
            raise KeyRingError(
                "a key id must be 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if len(self.material) != KEY_BYTES:
            raise KeyRingError(f"key {self.id!r} must be {KEY_BYTES} bytes (AES-256)")


@dataclass(frozen=True)
class KeyRing:
    """Keys newest first; empty when none is configured."""

    keys: tuple[SecretKey, ...] = ()
    #: Where the keys came from, for messages (``BACKCHANNEL_SECRET_KEYS``, a file's path).
    source: str = "no key configured"

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for key in self.keys:
            if key.id in seen:
                raise KeyRingError(f"key id {key.id!r} is given twice")
            seen.add(key.id)

    def __repr__(self) -> str:
        return f"KeyRing(ids={list(self.ids)!r}, source={self.source!r})"

    def __iter__(self) -> Iterator[SecretKey]:
        return iter(self.keys)

    @property
    def configured(self) -> bool:
        return bool(self.keys)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key.id for key in self.keys)

    @property
    def newest(self) -> SecretKey | None:
        return self.keys[0] if self.keys else None

    def get(self, key_id: str) -> SecretKey | None:
        return next((key for key in self.keys if key.id == key_id), None)


def parse_key_ring(text: str, source: str) -> KeyRing:
    """The ring ``text`` describes (see the module's docstring); KeyRingError otherwise."""
    keys = []
    entries = [
        entry.strip()
        for line in text.splitlines()
        for entry in line.partition("#")[0].split(",")
        if entry.strip()
    ]
    for number, entry in enumerate(entries, start=1):
        key_id, colon, encoded = entry.partition(":")
        if not colon:
            raise KeyRingError(f"entry {number} of {source} is not id:base64-key")
        try:
            material = base64.b64decode(_padded(encoded.strip()), altchars=_altchars(encoded))
        except (binascii.Error, ValueError):
            raise KeyRingError(f"key {key_id.strip()!r} of {source} is not base64") from None
        keys.append(SecretKey(key_id.strip(), material))
    return KeyRing(tuple(keys), source)


def new_key_entry(key_id: str) -> str:
    """A fresh random key, as a key ring entry ``id:base64-key``."""
    key = SecretKey(key_id, AESGCM.generate_key(bit_length=KEY_BYTES * 8))
    return f"{key.id}:{base64.b64encode(key.material).decode('ascii')}"


def _padded(encoded: str) -> str:
    return encoded + "=" * (-len(encoded) % 4)


def _altchars(encoded: str) -> bytes | None:
    """Takes the URL-safe alphabet too (``-`` and ``_``), as some secret stores write it."""
    return b"-_" if "-" in encoded or "_" in encoded else None
