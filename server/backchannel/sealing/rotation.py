"""Sealing stored secrets again under the newest key, one recipient at a time, each in its
own short transaction, while servers go on serving (``backchannel secrets rotate``).
Afterwards no stored secret needs an older key, and the older keys can be retired.

A recipient's row is locked only while its few secrets are opened and sealed again, as
UpdateRecipient locks it: the two take turns. Re-sealing changes neither the recipient's
revision nor its update time: nothing about it changed but the ciphertext.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

import asyncpg

from backchannel.sealing.key_ring import KeyRing
from backchannel.sealing.sealed_values import (
    NoSecretKey,
    SecretsUnreadable,
    open_secrets,
    seal_secrets,
)
from backchannel.store import recipient_secrets as store

log = logging.getLogger(__name__)

#: Recipient ids read per query while looking for what to seal again.
PAGE = 100


class Resealed(StrEnum):
    SEALED = "sealed"
    #: A deleted recipient's leftover secrets were removed.
    REMOVED = "removed"
    UNCHANGED = "unchanged"


@dataclass
class RotationReport:
    sealed: int = 0
    removed: int = 0
    #: Why each recipient that could not be sealed again could not (no secret value).
    failures: list[str] = field(default_factory=list)


async def reseal_recipient(pool: asyncpg.Pool, ring: KeyRing, recipient_id: str) -> Resealed:
    """Seals one recipient's secrets (and any it still has in plain text) under the newest
    key of ``ring``; removes those of a deleted recipient. SecretsUnreadable when one does
    not open: nothing is changed then."""
    newest = ring.newest
    if newest is None:
        raise NoSecretKey()
    async with pool.acquire() as connection, connection.transaction():
        stored = await store.lock_recipient_secrets(connection, recipient_id)
        if stored is None or not (stored.sealed or stored.plaintext):
            return Resealed.UNCHANGED
        if stored.deleted:
            await store.save_recipient_secrets(connection, recipient_id, {})
            return Resealed.REMOVED
        if not stored.plaintext and all(v.key_id == newest.id for v in stored.sealed.values()):
            return Resealed.UNCHANGED
        values = {**stored.plaintext, **open_secrets(ring, recipient_id, stored.sealed)}
        await store.save_recipient_secrets(
            connection, recipient_id, seal_secrets(ring, recipient_id, values)
        )
        return Resealed.SEALED


async def rotate_secrets(pool: asyncpg.Pool, ring: KeyRing) -> RotationReport:
    """Seals every stored secret not sealed under the newest key again under it."""
    newest = ring.newest
    if newest is None:
        raise NoSecretKey()
    report = RotationReport()
    after = ""
    while ids := await store.recipients_not_sealed_under(pool, newest.id, after, PAGE):
        for recipient_id in ids:
            try:
                outcome = await reseal_recipient(pool, ring, recipient_id)
            except SecretsUnreadable as error:
                log.error("not sealed again: %s", error)
                report.failures.append(str(error))
                continue
            if outcome is Resealed.SEALED:
                report.sealed += 1
            elif outcome is Resealed.REMOVED:
                report.removed += 1
        after = ids[-1]
    return report


async def seal_plaintext_secrets(pool: asyncpg.Pool, ring: KeyRing) -> int:
    """Seals the secrets an earlier version stored in plain text; returns for how many
    recipients. NoSecretKey when there are some and ``ring`` has no key."""
    count = 0
    after = ""
    while ids := await store.recipients_with_plaintext_secrets(pool, after, PAGE):
        for recipient_id in ids:
            if await reseal_recipient(pool, ring, recipient_id) is not Resealed.UNCHANGED:
                count += 1
        after = ids[-1]
    return count
