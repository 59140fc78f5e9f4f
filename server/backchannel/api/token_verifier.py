"""Verifying bearer tokens: by the SHA-256 of their text, against the database, then from
a small cache for a few seconds.

A call pays for one hash and a dictionary lookup while its token is cached; the database
is asked at most once per token per ``cache_seconds`` (calls presenting the same uncached
token at once share one query), and unknown, revoked and expired tokens are remembered
as refused for as long. Revocation reaches every server within seconds: the revoking
transaction NOTIFYs the token's id, and every process drops it from its cache (a lookup
that raced with the notification is not cached). When the LISTEN connection is lost and
comes back, notifications may have been missed, so the whole cache is dropped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg
from cachetools import TTLCache

from backchannel.api.caller import Caller, CallerKind
from backchannel.model import TokenRecord
from backchannel.store import tokens as token_store
from backchannel.token_secrets import token_digest

#: Tokens remembered at once (each a few hundred bytes).
MAX_CACHED = 10_000


@dataclass(frozen=True)
class _Verified:
    caller: Caller
    #: time.time() at which it expires; None: never.
    expires_at: float | None


class TokenVerifier:
    def __init__(self, pool: asyncpg.Pool, cache_seconds: float) -> None:
        self._pool = pool
        self._valid: TTLCache[bytes, _Verified] = TTLCache(MAX_CACHED, cache_seconds)
        self._refused: TTLCache[bytes, bool] = TTLCache(MAX_CACHED, cache_seconds)
        self._lookups: dict[bytes, asyncio.Future[_Verified | None]] = {}
        #: Bumped by every revocation heard: a lookup that started before one is not cached.
        self._generation = 0

    async def caller_for(self, token_text: str) -> Caller | None:
        """The caller ``token_text`` (well formed) stands for; None when it is unknown,
        revoked or expired."""
        digest = token_digest(token_text)
        verified = self._valid.get(digest)
        if verified is None:
            if digest in self._refused:
                return None
            verified = await self._look_up(digest)
            if verified is None:
                return None
        if verified.expires_at is not None and time.time() >= verified.expires_at:
            return None
        return verified.caller

    def revoked(self, token_id: str) -> None:
        """A NOTIFY said ``token_id`` was revoked: forget it."""
        self._generation += 1
        for digest, verified in list(self._valid.items()):
            if verified.caller.token_id == token_id:
                self._valid.pop(digest, None)

    def reconnected(self) -> None:
        """The LISTEN connection is (again) up: revocations may have been missed."""
        self._generation += 1
        self._valid.clear()

    async def _look_up(self, digest: bytes) -> _Verified | None:
        lookup = self._lookups.get(digest)
        if lookup is None:
            lookup = asyncio.ensure_future(self._fetch(digest))
            self._lookups[digest] = lookup
            lookup.add_done_callback(lambda done: self._finished(digest, done))
        return await asyncio.shield(lookup)

    def _finished(self, digest: bytes, lookup: asyncio.Future[_Verified | None]) -> None:
        self._lookups.pop(digest, None)
        if not lookup.cancelled():
            lookup.exception()  # retrieved here: every waiter may have gone

    async def _fetch(self, digest: bytes) -> _Verified | None:
        generation = self._generation
        record = await token_store.find_token(self._pool, digest)
        verified = _verified(record)
        if generation == self._generation:
            if verified is None:
                self._refused[digest] = True
            else:
                self._valid[digest] = verified
        return verified


def _verified(record: TokenRecord | None) -> _Verified | None:
    if record is None or record.revoked:
        return None
    expires_at = None if record.expire_time is None else record.expire_time.timestamp()
    if expires_at is not None and time.time() >= expires_at:
        return None
    caller = Caller(
        record.name,
        authenticated=True,
        grant=record.grant,
        kind=CallerKind.TOKEN,
        token_id=record.id,
    )
    return _Verified(caller, expires_at)
