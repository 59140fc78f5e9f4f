"""Accepted feedback and its deliveries, written together in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from backchannel.model import DeliveryRow, DeliveryState, NewFeedback, StoredAnswer
from backchannel.store.database import DbConnection
from backchannel.store.queries import sql


async def insert_feedback_batch(
    connection: DbConnection, batch: Sequence[NewFeedback]
) -> dict[str, StoredAnswer | None]:
    """Stores every feedback whose request id is new, with its deliveries, in one
    statement (one transaction), and returns for every request id of the batch the stored
    answer (the new ones, and the first answer of those already stored), or None when
    nothing is stored under it because the recipient directory moved past the version its
    recipients were chosen at. Request ids must be unique within the batch."""
    deliveries = [(f, d) for f in batch for d in f.deliveries]
    rows = await connection.fetch(
        sql("accept_feedback_batch"),
        [f.id for f in batch],
        [f.request_id for f in batch],
        [f.request_digest for f in batch],
        [f.kind for f in batch],
        [f.lead_id for f in batch],
        [f.source_id for f in batch],
        [f.record for f in batch],
        [f.response for f in batch],
        [f.traceparent for f in batch],
        [f.accept_time for f in batch],
        [d.id for _, d in deliveries],
        [f.id for f, _ in deliveries],
        [d.recipient_id for _, d in deliveries],
        [f.directory_version for f in batch],
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
        for row in await connection.fetch(sql("select_answers_by_request_ids"), repeated):
            answers[row["request_id"]] = StoredAnswer(
                row["request_id"], row["request_digest"], row["response"]
            )
    return answers


async def stored_answer(pool: asyncpg.Pool, request_id: str) -> StoredAnswer | None:
    rows = await pool.fetch(sql("select_answers_by_request_ids"), [request_id])
    if not rows:
        return None
    row = rows[0]
    return StoredAnswer(row["request_id"], row["request_digest"], row["response"])


async def get_feedback_record(pool: asyncpg.Pool, feedback_id: str) -> bytes | None:
    row = await pool.fetchrow(sql("select_feedback"), feedback_id)
    return None if row is None else bytes(row["record"])


async def deliveries_of_feedback(pool: asyncpg.Pool, feedback_id: str) -> list[DeliveryRow]:
    rows = await pool.fetch(sql("select_deliveries_of_feedback"), feedback_id)
    return [delivery_from_row(row) for row in rows]


def delivery_from_row(row: asyncpg.Record) -> DeliveryRow:
    values = dict(row)
    return DeliveryRow(state=DeliveryState(values.pop("state")), **values)
