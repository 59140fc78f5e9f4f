"""Accepted feedback and its deliveries, written together in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from backchannel.model import DeliveryRow, DeliveryState, NewFeedback, StoredAnswer
from backchannel.store.database import DbConnection
from backchannel.store.queries import fetch, fetchrow


async def insert_feedback_batch(
    connection: DbConnection, batch: Sequence[NewFeedback]
) -> dict[str, StoredAnswer | None]:
    """Stores every feedback whose request id is new, with its deliveries, in one
    statement (one transaction), and returns for every request id of the batch the stored
    answer (the new ones, and the first answer of those already stored), or None when
    nothing is stored under it because the recipient directory moved past the version its
    recipients were chosen at. Request ids must be unique within the batch."""
    deliveries = [(f, d) for f in batch for d in f.deliveries]
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
        delivery_id=[d.id for _, d in deliveries],
        delivery_feedback_id=[f.id for f, _ in deliveries],
        delivery_recipient_id=[d.recipient_id for _, d in deliveries],
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
