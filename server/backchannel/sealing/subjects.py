"""Sealing a feedback's subject (the lead's personal identifiers) for crypto-shredding.

Envelope encryption: each feedback's subject is sealed with AES-256-GCM under a fresh data
key of its own, and that data key is sealed under the key ring's newest key (the ring that
seals recipient secrets). The two are stored apart (``feedback.subject_ciphertext`` and
``subject_keys``): deleting a feedback's data key leaves every copy of its subject
unreadable, in the table, in backups and in anything else sealed under that key.

Both seals bind their associated data to the feedback id, so a ciphertext or a data key
moved to another feedback does not open. No message here holds a value or key material.
"""

from __future__ import annotations

import json
import os

from backchannel_client.v1 import feedback_pb2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backchannel.model import SealedSubject, WrappedKey
from backchannel.sealing.key_ring import KEY_BYTES, KeyRing

NONCE_BYTES = 12
#: Change when what is sealed, or how, changes; part of the associated data.
_SUBJECT_FORMAT = "backchannel.subject.v1"
_DATA_KEY_FORMAT = "backchannel.subject-key.v1"


class SubjectUnreadable(Exception):
    """A sealed subject cannot be opened (its key is unknown, or it does not open)."""


def _associated(kind: str, feedback_id: str, key_id: str = "") -> bytes:
    return json.dumps([kind, feedback_id, key_id]).encode("utf-8")


def _wrap(ring: KeyRing, feedback_id: str, data_key: bytes) -> WrappedKey:
    ring_key = ring.newest
    if ring_key is None:
        raise ValueError("no secret key is configured")
    nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(ring_key.material).encrypt(
        nonce, data_key, _associated(_DATA_KEY_FORMAT, feedback_id, ring_key.id)
    )
    return WrappedKey(ring_key.id, nonce, wrapped)


def _unwrap(ring: KeyRing, feedback_id: str, key: WrappedKey) -> bytes:
    ring_key = ring.get(key.key_id)
    if ring_key is None:
        raise SubjectUnreadable(
            f"the subject of feedback {feedback_id!r} is sealed under key id "
            f"{key.key_id!r}, which is not configured"
        )
    try:
        return AESGCM(ring_key.material).decrypt(
            key.nonce, key.wrapped, _associated(_DATA_KEY_FORMAT, feedback_id, ring_key.id)
        )
    except (InvalidTag, ValueError):
        raise SubjectUnreadable(
            f"the data key of feedback {feedback_id!r} does not open with key "
            f"{key.key_id!r}: altered, moved, or another key under that id"
        ) from None


def rewrapped(ring: KeyRing, feedback_id: str, key: WrappedKey) -> WrappedKey:
    """``key``'s data key sealed again under the ring's newest key (the subject's own
    ciphertext does not change); SubjectUnreadable when it does not open."""
    return _wrap(ring, feedback_id, _unwrap(ring, feedback_id, key))


def seal_subject(ring: KeyRing, feedback_id: str, subject: feedback_pb2.Subject) -> SealedSubject:
    """``subject`` sealed under a new data key, itself sealed under the ring's newest key;
    ValueError when the ring has no key."""
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    key = _wrap(ring, feedback_id, data_key)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(
        nonce,
        subject.SerializeToString(deterministic=True),
        _associated(_SUBJECT_FORMAT, feedback_id),
    )
    return SealedSubject(nonce, ciphertext, key.key_id, key.nonce, key.wrapped)


def open_subject(ring: KeyRing, feedback_id: str, sealed: SealedSubject) -> feedback_pb2.Subject:
    """The subject ``sealed`` holds; SubjectUnreadable when it does not open."""
    key = WrappedKey(sealed.key_id, sealed.key_nonce, sealed.wrapped_key)
    data_key = _unwrap(ring, feedback_id, key)
    try:
        plaintext = AESGCM(data_key).decrypt(
            sealed.nonce, sealed.ciphertext, _associated(_SUBJECT_FORMAT, feedback_id)
        )
    except (InvalidTag, ValueError):
        raise SubjectUnreadable(
            f"the subject of feedback {feedback_id!r} does not open: altered or moved"
        ) from None
    return feedback_pb2.Subject.FromString(plaintext)
