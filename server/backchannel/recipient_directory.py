"""An in-process view of the live recipients, for choosing subscribers without reading
every recipient on each request.

Every change to recipients bumps a version in the same transaction. Requests choose their
recipients from the view and the statement that stores them checks, in its own snapshot,
that the version is still the view's (no extra round trip); if it moved, nothing is
stored and the request chooses again after :meth:`RecipientDirectory.current`, which
waits for a view at least as new as every change acknowledged before the call. So a
recipient change acknowledged on any replica is seen by the next request on every
replica. Notifications keep the view fresh in the background. An id the view does not
know is looked up in the database before being called unknown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import asyncpg

from backchannel.background import stop_task
from backchannel.model import RecipientRecord, RecipientState
from backchannel.store import recipients as recipient_store
from backchannel.store.database import log_database_error

log = logging.getLogger(__name__)


class RecipientDirectory:
    def __init__(self, pool: asyncpg.Pool, full_refresh_seconds: float = 30.0) -> None:
        self._pool = pool
        self._by_id: dict[str, RecipientRecord] = {}
        self._version = 0
        self._full_refresh_seconds = full_refresh_seconds
        self._task: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._version_read: asyncio.Future[int] | None = None
        self._next_version_read: asyncio.Future[int] | None = None

    async def start(self) -> None:
        await self.refresh_all()
        self._task = asyncio.create_task(self._refresh_periodically(), name="recipient-refresh")

    async def stop(self) -> None:
        for task in (self._task, self._refreshing):
            await stop_task(task)

    async def refresh_all(self) -> None:
        """Re-reads every recipient; concurrent callers share one read."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._read_all(), name="recipient-read")
        await asyncio.shield(self._refreshing)

    async def _read_all(self) -> None:
        version, records = await recipient_store.live_recipients(self._pool)
        if version >= self._version:
            self._by_id = {r.id: r for r in records}
            self._version = version

    async def current(self) -> None:
        """Makes sure the view is at least as new as every recipient change acknowledged
        before this call. One version read serves every caller that arrived before it
        started: under load, one read per round trip, whatever the request rate."""
        while await self._version_read_after_now() > self._version:
            await self.refresh_all()

    def _version_read_after_now(self) -> asyncio.Future[int]:
        if self._version_read is None:
            # None in flight: one starts now, after this caller arrived.
            self._version_read = asyncio.ensure_future(self._read_version())
            return asyncio.shield(self._version_read)
        # One is in flight, started before this caller: wait for the next one.
        if self._next_version_read is None:
            self._next_version_read = asyncio.get_running_loop().create_future()
        return asyncio.shield(self._next_version_read)

    async def _read_version(self) -> int:
        try:
            return await recipient_store.directory_version(self._pool)
        finally:
            waiting, self._next_version_read = self._next_version_read, None
            self._version_read = None
            if waiting is not None:
                self._version_read = asyncio.ensure_future(self._read_version())
                _chain(self._version_read, waiting)

    def changed(self, _recipient_id: str = "") -> None:
        """Notification callback: a recipient changed somewhere."""
        self._background_refresh()

    def reconnected(self) -> None:
        self._background_refresh()

    def _background_refresh(self) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._read_all(), name="recipient-read")
            self._refreshing.add_done_callback(_log_failure)

    async def _refresh_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._full_refresh_seconds)
            try:
                await self.refresh_all()
            except Exception as error:
                log_database_error(log, "reading the recipient directory", error)

    def remember(self, recipient_id: str, record: RecipientRecord | None) -> None:
        """Takes a recipient this process just wrote (None: deleted). The version is not
        moved: the next request re-reads everything if another change came in between."""
        if record is None:
            self._by_id.pop(recipient_id, None)
            return
        known = self._by_id.get(recipient_id)
        if known is None or known.revision <= record.revision:
            self._by_id[recipient_id] = record

    @property
    def version(self) -> int:
        """The directory version the view is as of."""
        return self._version

    async def find(self, recipient_ids: Iterable[str]) -> dict[str, RecipientRecord]:
        """The named recipients that exist, as of the view (an id it does not know is
        looked up in the database)."""
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

    async def subscribers(self, kind: str, source_id: str) -> list[RecipientRecord]:
        """Recipients that are not disabled and whose subscription matches, as of the
        view."""
        return sorted(
            (
                r
                for r in self._by_id.values()
                if r.state != RecipientState.DISABLED
                and (not r.subscribed_kinds or kind in r.subscribed_kinds)
                and (not r.subscribed_source_ids or source_id in r.subscribed_source_ids)
            ),
            key=lambda r: r.id,
        )


def _chain(source: asyncio.Future[int], target: asyncio.Future[int]) -> None:
    def copy(done: asyncio.Future[int]) -> None:
        if target.done():
            return
        if done.cancelled():
            target.cancel()
        elif done.exception() is not None:
            target.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            target.set_result(done.result())

    source.add_done_callback(copy)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not re-read recipients: %s", type(task.exception()).__name__)
