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

from backchannel.model import SealedSubject
from backchannel.sealing.key_ring import KEY_BYTES, KeyRing

NONCE_BYTES = 12
#: Change when what is sealed, or how, changes; part of the associated data.
_SUBJECT_FORMAT = "backchannel.subject.v1"
_DATA_KEY_FORMAT = "backchannel.subject-key.v1"


class SubjectUnreadable(Exception):
    """A sealed subject cannot be opened (its key is unknown, or it does not open)."""


def _associated(kind: str, feedback_id: str, key_id: str = "") -> bytes:
    return json.dumps([kind, feedback_id, key_id]).encode("utf-8")


def seal_subject(ring: KeyRing, feedback_id: str, subject: feedback_pb2.Subject) -> SealedSubject:
    """``subject`` sealed under a new data key, itself sealed under the ring's newest key;
    ValueError when the ring has no key."""
    ring_key = ring.newest
    if ring_key is None:
        raise ValueError("no secret key is configured")
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    nonce, key_nonce = os.urandom(NONCE_BYTES), os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(
        nonce,
        subject.SerializeToString(deterministic=True),
        _associated(_SUBJECT_FORMAT, feedback_id),
    )
    wrapped = AESGCM(ring_key.material).encrypt(
        key_nonce, data_key, _associated(_DATA_KEY_FORMAT, feedback_id, ring_key.id)
    )
    return SealedSubject(nonce, ciphertext, ring_key.id, key_nonce, wrapped)


def open_subject(ring: KeyRing, feedback_id: str, sealed: SealedSubject) -> feedback_pb2.Subject:
    """The subject ``sealed`` holds; SubjectUnreadable when it does not open."""
    ring_key = ring.get(sealed.key_id)
    if ring_key is None:
        raise SubjectUnreadable(
            f"the subject of feedback {feedback_id!r} is sealed under key id "
            f"{sealed.key_id!r}, which is not configured"
        )
    try:
        data_key = AESGCM(ring_key.material).decrypt(
            sealed.key_nonce,
            sealed.wrapped_key,
            _associated(_DATA_KEY_FORMAT, feedback_id, ring_key.id),
        )
        plaintext = AESGCM(data_key).decrypt(
            sealed.nonce, sealed.ciphertext, _associated(_SUBJECT_FORMAT, feedback_id)
        )
    except (InvalidTag, ValueError):
        raise SubjectUnreadable(
            f"the subject of feedback {feedback_id!r} does not open: altered or moved"
        ) from None
    return feedback_pb2.Subject.FromString(plaintext)
