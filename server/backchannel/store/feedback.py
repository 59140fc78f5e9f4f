"""Accepted feedback and its deliveries, written together in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal

import asyncpg

from backchannel.model import (
    DeliveryRow,
    DeliveryState,
    FeedbackFacts,
    NewFeedback,
    StoredAnswer,
)
from backchannel.store.database import DbConnection, is_unavailable
from backchannel.store.queries import fetch, fetchrow, fetchval

#: How often a lost write's outcome is looked for while it cannot be told yet, seconds.
_RESOLVE_INTERVAL = 0.05


async def insert_feedback_batch(
    connection: DbConnection, batch: Sequence[NewFeedback]
) -> dict[str, StoredAnswer | None]:
    """Stores every feedback whose request id is new, with its deliveries, in one
    statement (one transaction), and returns for every request id of the batch the stored
    answer (the new ones, and the first answer of those already stored), or None when
    nothing is stored under it because the recipient directory moved past the version its
    recipients were chosen at. Request ids must be unique within the batch."""
    deliveries = [(f, d) for f in batch for d in f.deliveries]
    sealed = [(f.id, f.subject) for f in batch if f.subject is not None]
    facts = [(f, f.facts or FeedbackFacts(hour=hour_of(f.accept_time))) for f in batch]
    scores = [(f, x, dimension, score) for f, x in facts for dimension, score in x.scores]
    rows = await fetch(
        connection,
        "accept_feedback_batch",
        id=[f.id for f in batch],
        request_id=[f.request_id for f in batch],
        request_digest=[f.request_digest for f in batch],
        kind=[f.kind for f in batch],
        lead_id=[f.lead_id for f in batch],
        source_id=[f.source_id for f in batch],
        record=[f.record for f in batch],
        response=[f.response for f in batch],
        traceparent=[f.traceparent for f in batch],
        accept_time=[f.accept_time for f in batch],
        directory_version=[f.directory_version for f in batch],
        origin_trace_id=[f.origin_trace_id for f in batch],
        tracestate=[f.tracestate for f in batch],
        subject_nonce=[f.subject.nonce if f.subject else None for f in batch],
        subject_ciphertext=[f.subject.ciphertext if f.subject else None for f in batch],
        subject_feedback_id=[i for i, _ in sealed],
        subject_key_id=[s.key_id for _, s in sealed],
        subject_key_nonce=[s.key_nonce for _, s in sealed],
        subject_wrapped_key=[s.wrapped_key for _, s in sealed],
        delivery_id=[d.id for _, d in deliveries],
        delivery_feedback_id=[f.id for f, _ in deliveries],
        delivery_recipient_id=[d.recipient_id for _, d in deliveries],
        fact_feedback_id=[f.id for f, _ in facts],
        fact_hour=[x.hour for _, x in facts],
        fact_currency=[x.currency for _, x in facts],
        fact_amount=[Decimal(x.amount) if x.amount else None for _, x in facts],
        fact_reason=[x.return_reason for _, x in facts],
        score_feedback_id=[f.id for f, _, _, _ in scores],
        score_hour=[x.hour for _, x, _, _ in scores],
        score_dimension=[dimension for _, _, dimension, _ in scores],
        score_value=[score for _, _, _, score in scores],
    )
    inserted = {row["request_id"] for row in rows}
    answers: dict[str, StoredAnswer | None] = {
        f.request_id: (
            StoredAnswer(f.request_id, f.request_digest, f.response, stored_now=True)
            if f.request_id in inserted
            else None
        )
        for f in batch
    }
    repeated = [f.request_id for f in batch if f.request_id not in inserted]
    if repeated:
        for row in await fetch(connection, "select_answers_by_request_ids", request_ids=repeated):
            answers[row["request_id"]] = StoredAnswer(
                row["request_id"], row["request_digest"], row["response"]
            )
    return answers


def hour_of(moment: datetime) -> datetime:
    """The UTC hour ``moment`` falls in: the rollup bucket of feedback without facts."""
    return moment.replace(minute=0, second=0, microsecond=0)


async def answers_after_a_lost_connection(
    connect: Callable[[], Awaitable[asyncpg.Connection]],
    backend_pid: int | None,
    request_ids: Sequence[str],
    seconds: float,
) -> dict[str, StoredAnswer] | None:
    """Whether a write whose connection was lost mid-statement landed, found on a fresh
    connection within ``seconds``: the stored answers of those of ``request_ids`` that
    are stored (the rest are not, and never will be), or None when it could not be told in
    time. It is told once the lost connection's server process (``backend_pid``) is idle
    or gone: its statement has then committed or been rolled back. Waits through the
    database restarting.

    The lookup opens its own connection with ``connect`` and closes it, never one of the
    pool's: attempts cut short while the database restarts must not cost the pool a
    connection (with pooled acquires cancelled mid-connect, two quick restarts left the
    pool with none to give and every later accept waiting for ever)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        connection: asyncpg.Connection | None = None
        try:
            async with asyncio.timeout(left):
                connection = await connect()
                if backend_pid is None or not await fetchval(
                    connection, "backend_is_busy", pid=backend_pid
                ):
                    rows = await fetch(
                        connection, "select_answers_by_request_ids", request_ids=list(request_ids)
                    )
                    return {
                        row["request_id"]: StoredAnswer(
                            row["request_id"], row["request_digest"], row["response"]
                        )
                        for row in rows
                    }
        except TimeoutError:
            break
        except Exception as error:
            if not is_unavailable(error):
                raise
        finally:
            if connection is not None:
                connection.terminate()
        await asyncio.sleep(_RESOLVE_INTERVAL)
    return None


async def stored_answer(pool: asyncpg.Pool, request_id: str) -> StoredAnswer | None:
    rows = await fetch(pool, "select_answers_by_request_ids", request_ids=[request_id])
    if not rows:
        return None
    row = rows[0]
    return StoredAnswer(row["request_id"], row["request_digest"], row["response"])


async def get_feedback_record(pool: asyncpg.Pool, feedback_id: str) -> bytes | None:
    row = await fetchrow(pool, "select_feedback", feedback_id=feedback_id)
    return None if row is None else bytes(row["record"])


async def deliveries_of_feedback(pool: asyncpg.Pool, feedback_id: str) -> list[DeliveryRow]:
    rows = await fetch(pool, "select_deliveries_of_feedback", feedback_id=feedback_id)
    return [delivery_from_row(row) for row in rows]


def delivery_from_row(row: asyncpg.Record) -> DeliveryRow:
    values = dict(row)
    return DeliveryRow(state=DeliveryState(values.pop("state")), **values)
