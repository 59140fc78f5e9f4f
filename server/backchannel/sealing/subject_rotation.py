"""Sealing subjects' data keys again under the newest ring key (part of ``backchannel
secrets rotate``), a page at a time, each page in its own short transaction, while servers
go on serving. Only the data keys change: the subjects' own ciphertexts stay as they are,
so a rotation costs one small AES-GCM per feedback whatever its subject holds."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import asyncpg

from backchannel.model import WrappedKey
from backchannel.sealing.key_ring import KeyRing
from backchannel.sealing.sealed_values import NoSecretKey
from backchannel.sealing.subjects import SubjectUnreadable, rewrapped
from backchannel.store import subject_keys as store

log = logging.getLogger(__name__)

#: Data keys sealed again per transaction.
PAGE = 500


@dataclass
class SubjectRotationReport:
    resealed: int = 0
    #: Why each data key that could not be sealed again could not (no key material).
    failures: list[str] = field(default_factory=list)


async def rotate_subject_keys(pool: asyncpg.Pool, ring: KeyRing) -> SubjectRotationReport:
    """Seals every subject data key not sealed under the newest key again under it. A key
    that does not open is left as it is and reported."""
    newest = ring.newest
    if newest is None:
        raise NoSecretKey()
    report = SubjectRotationReport()
    failed: set[str] = set()
    while True:
        async with pool.acquire() as connection, connection.transaction():
            page = await store.lock_keys_not_under(connection, newest.id, PAGE + len(failed))
            todo = [(feedback_id, key) for feedback_id, key in page if feedback_id not in failed]
            if not todo:
                return report
            done: list[tuple[str, WrappedKey]] = []
            for feedback_id, key in todo:
                try:
                    done.append((feedback_id, rewrapped(ring, feedback_id, key)))
                except SubjectUnreadable as error:
                    log.error("not sealed again: %s", error)
                    report.failures.append(str(error))
                    failed.add(feedback_id)
            await store.save_keys(connection, done)
            report.resealed += len(done)
