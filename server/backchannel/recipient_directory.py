"""An in-process view of the live recipients, for deciding who hears a feedback without
a database round trip. Kept fresh by change notifications, re-read in full on reconnect
and every so often; an id it does not know is looked up in the database before being
called unknown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import asyncpg

from backchannel.background import cancelling, stop_task
from backchannel.store import recipients as recipient_store
from backchannel.store.records import RecipientRecord

log = logging.getLogger(__name__)


class RecipientDirectory:
    def __init__(self, pool: asyncpg.Pool, full_refresh_seconds: float = 30.0) -> None:
        self._pool = pool
        self._by_id: dict[str, RecipientRecord] = {}
        self._full_refresh_seconds = full_refresh_seconds
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.refresh_all()
        self._task = asyncio.create_task(self._refresh_periodically(), name="recipient-refresh")

    async def stop(self) -> None:
        for task in [self._task, *self._pending]:
            await stop_task(task)

    async def refresh_all(self) -> None:
        records = await recipient_store.live_recipients(self._pool)
        self._by_id = {r.id: r for r in records}

    def changed(self, recipient_id: str) -> None:
        """Notification callback: re-read one recipient."""
        task = asyncio.create_task(self._reload(recipient_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def reconnected(self) -> None:
        task = asyncio.create_task(self.refresh_all())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _reload(self, recipient_id: str) -> None:
        try:
            record = await recipient_store.get_recipient(self._pool, recipient_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("could not re-read recipient %s; will refresh later", recipient_id)
            return
        self.remember(recipient_id, record)

    def remember(self, recipient_id: str, record: RecipientRecord | None) -> None:
        """Takes a recipient this process just wrote (None: deleted), so its own next
        request sees it without waiting for the notification."""
        if record is None:
            self._by_id.pop(recipient_id, None)
            return
        known = self._by_id.get(recipient_id)
        if known is None or known.revision <= record.revision:
            self._by_id[recipient_id] = record

    async def _refresh_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._full_refresh_seconds)
            try:
                await self.refresh_all()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                if cancelling():
                    raise asyncio.CancelledError from error

    async def find(self, recipient_ids: Iterable[str]) -> dict[str, RecipientRecord]:
        wanted = list(recipient_ids)
        found = {i: self._by_id[i] for i in wanted if i in self._by_id}
        missing = [i for i in wanted if i not in found]
        if missing:
            for recipient_id, record in (
                await recipient_store.get_recipients(self._pool, missing)
            ).items():
                self.remember(recipient_id, record)
                found[recipient_id] = record
        return found

    def subscribers(self, kind: str, source_id: str) -> list[RecipientRecord]:
        """Recipients that are not disabled and whose subscription matches."""
        return sorted(
            (
                r
                for r in self._by_id.values()
                if r.state != "disabled"
                and (not r.subscribed_kinds or kind in r.subscribed_kinds)
                and (not r.subscribed_source_ids or source_id in r.subscribed_source_ids)
            ),
            key=lambda r: r.id,
        )
