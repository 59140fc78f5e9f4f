"""Group commit for SendFeedback: concurrent accepts share one statement, one transaction
and one WAL flush, so a durable accept costs a fraction of a commit under load. A request
is answered only after the transaction holding it has committed. A writer keeps its own
connection; while its commit is in flight, the next batch builds up in the queue. There
is one writer: a second one took requests as they trickled in, so batches stayed near one
request each and every accept paid for a statement of its own, which cost more server
CPU per accept than the second writer saved in waiting (the figures are in
bench/README.md, "Figures behind design choices"). Under concurrent load the writer
lingers while requests keep arriving (see commit_batches).

When the connection is lost while a batch's statement is in flight, the batch may or may
not have committed (the commit can land with its answer lost). Before answering, the
outcome is looked up on a fresh connection once the lost connection's server process has
finished (within ``resolve_seconds``): stored requests get their answer, the others a
plain database error (nothing stored). When that cannot be told in time, each request
fails with CommitOutcomeUnknownError (answered UNAVAILABLE, COMMIT_OUTCOME_UNKNOWN: retry
with the same request id)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from backchannel.background import stop_task
from backchannel.commit_batches import CommitBatches
from backchannel.metrics import count_stored_feedback
from backchannel.model import NewFeedback, StoredAnswer
from backchannel.store.database import (
    CommitOutcomeUnknownError,
    DbConnection,
    is_unavailable,
)
from backchannel.store.feedback import answers_after_a_lost_connection, insert_feedback_batch

log = logging.getLogger(__name__)

_Item = tuple[NewFeedback, asyncio.Future[StoredAnswer | None]]


class Intake:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        max_batch: int = 256,
        linger_seconds: float = 0.002,
        linger_step_seconds: float = 0.00025,
        resolve_seconds: float = 5.0,
    ) -> None:
        """``dsn``: the pool's database, for looking up a write whose connection was lost
        on a connection of its own."""
        self._pool = pool
        self._connect: Callable[[], Awaitable[asyncpg.Connection]] = lambda: asyncpg.connect(
            dsn, timeout=resolve_seconds
        )
        self._resolve_seconds = resolve_seconds
        #: Batches whose connection was lost mid-statement, being looked up.
        self._resolving: set[asyncio.Task[None]] = set()
        self._batches: CommitBatches[_Item] = CommitBatches(
            max_batch, linger_seconds, linger_step_seconds
        )
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_batches(), name="intake-writer")

    async def stop(self) -> None:
        if self._writer is not None:
            await stop_task(self._writer)
        for task in list(self._resolving):
            await stop_task(task)
        for _, future in self._batches.take_all():
            if not future.done():
                future.set_exception(ConnectionError("server is shutting down"))

    async def submit(self, feedback: NewFeedback) -> StoredAnswer | None:
        """The stored answer for the feedback's request id once committed, or None when
        nothing was stored because the recipient directory moved past the version the
        feedback's recipients were chosen at (choose them again and resubmit); never None
        for feedback without a directory version."""
        future: asyncio.Future[StoredAnswer | None] = asyncio.get_running_loop().create_future()
        self._batches.put((feedback, future))
        return await future

    async def _write_batches(self) -> None:
        connection: PoolConnectionProxy | None = None
        try:
            while True:
                batch = await self._batches.next_batch()
                live = [(f, fut) for f, fut in batch if not fut.cancelled()]
                if not live:
                    continue
                if connection is None:
                    try:
                        connection = await self._pool.acquire()
                    except Exception as error:
                        _fail(live, error)
                        continue
                try:
                    usable = await self._write(connection, live)
                except Exception as error:
                    # Never let one batch end the writer: every later accept would wait
                    # for ever. Answer it, and go on with a fresh connection.
                    log.exception("writing accepted feedback failed")
                    _fail(live, error)
                    usable = False
                if not usable:
                    # The connection may be broken: hand it back and take a fresh one.
                    await _release(self._pool, connection)
                    connection = None
        finally:
            if connection is not None:
                await _release(self._pool, connection)

    async def _write(self, connection: DbConnection, batch: list[_Item]) -> bool:
        """Writes the batch and answers each request; False if the connection failed."""
        written = _one_per_request_id(batch)
        try:
            backend_pid = connection.get_server_pid()
        except asyncpg.InterfaceError as error:
            # The pool took the connection back when its session ended (asyncpg detaches
            # a pooled connection that closes): nothing was sent on it.
            _fail(batch, error)
            return False
        try:
            answers = await insert_feedback_batch(connection, written)
        except asyncpg.IntegrityConstraintViolationError as error:
            if len({feedback.request_id for feedback, _ in batch}) > 1:
                # One bad row spoils the batch; write them one by one to isolate it.
                return all([await self._write(connection, [item]) for item in batch])
            _fail(batch, error)
            return True
        except Exception as error:
            if is_unavailable(error):
                # Sent, perhaps committed: find out before answering.
                self._resolve(batch, backend_pid, error)
                return False
            _fail(batch, error)
            # A statement's own error leaves the connection usable; anything else may not.
            return isinstance(error, asyncpg.PostgresError)
        count_stored_feedback(
            f.kind for f in written if (answer := answers[f.request_id]) and answer.stored_now
        )
        for feedback, future in batch:
            if not future.done():
                future.set_result(answers[feedback.request_id])
        return True

    def _resolve(self, batch: list[_Item], backend_pid: int, error: Exception) -> None:
        """Answers a batch whose connection was lost mid-statement once its outcome is
        known (in a task: the writer goes on with the next batch meanwhile)."""
        task = asyncio.create_task(self._answer_lost(batch, backend_pid, error))
        self._resolving.add(task)
        task.add_done_callback(self._resolving.discard)

    async def _answer_lost(self, batch: list[_Item], backend_pid: int, error: Exception) -> None:
        request_ids = list({feedback.request_id for feedback, _ in batch})
        answers = None
        try:
            answers = await answers_after_a_lost_connection(
                self._connect, backend_pid, request_ids, self._resolve_seconds
            )
        except Exception as lookup_error:
            log.warning("could not look up a lost write: %s", type(lookup_error).__name__)
        if answers is None:
            log.warning(
                "database connection lost mid-write (%s); the outcome of %d requests is unknown",
                type(error).__name__,
                len(request_ids),
            )
        for feedback, future in batch:
            if future.done():
                continue
            if answers is None:
                future.set_exception(CommitOutcomeUnknownError(type(error).__name__))
            elif feedback.request_id in answers:
                future.set_result(answers[feedback.request_id])
            else:
                future.set_exception(error)


def _one_per_request_id(batch: list[_Item]) -> list[NewFeedback]:
    """What to write for a batch holding several requests with one request id: one of
    them, and every one gets its answer. The one written is the one whose recipients were
    chosen last (without a directory check, else at the newest directory version): if it
    is refused as chosen from an old directory, so would every other, and each chooses
    again; one stored without a check answers them all."""
    chosen: dict[str, NewFeedback] = {}
    for feedback, _ in batch:
        earlier = chosen.get(feedback.request_id)
        if earlier is None or _chosen_later(feedback, earlier):
            chosen[feedback.request_id] = feedback
    return list(chosen.values())


def _chosen_later(feedback: NewFeedback, other: NewFeedback) -> bool:
    if other.directory_version is None:
        return False
    return (
        feedback.directory_version is None or feedback.directory_version > other.directory_version
    )


def _fail(batch: list[_Item], error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


async def _release(pool: asyncpg.Pool, connection: PoolConnectionProxy) -> None:
    # Releasing a connection the server dropped can itself fail; the pool replaces it.
    try:
        await pool.release(connection)
    except Exception as error:
        log.warning("dropped a broken database connection: %s", type(error).__name__)
