"""What an operator can do to deliveries: retry one, resend a feedback, recover a range.
Each makes deliveries due now with a fresh retry policy, recorded with who asked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import asyncpg

from backchannel.ids import new_id
from backchannel.model import AuditEntry, DeliveryRow, DeliveryState, RecipientState
from backchannel.store.audit import record_change
from backchannel.store.feedback import delivery_from_row
from backchannel.store.queries import execute, fetch, fetchrow, fetchval


class ActionRefusedError(Exception):
    """The action cannot be carried out; the message says why, for the operator."""


class DeliveryMissingError(Exception):
    """No such delivery (or feedback)."""


class DeliveryScope(NamedTuple):
    """Whom a delivery concerns: its recipient and its feedback's source."""

    recipient_id: str
    source_id: str


async def delivery_scope(pool: asyncpg.Pool, delivery_id: str) -> DeliveryScope | None:
    row = await fetchrow(pool, "select_delivery_scope", delivery_id=delivery_id)
    return None if row is None else DeliveryScope(row["recipient_id"], row["source_id"])


async def retry_delivery(
    pool: asyncpg.Pool, delivery_id: str, requested_by: str, audit: AuditEntry
) -> DeliveryRow:
    async with pool.acquire() as connection, connection.transaction():
        current = await fetchrow(connection, "select_delivery_for_update", delivery_id=delivery_id)
        if current is None:
            raise DeliveryMissingError(delivery_id)
        if current["state"] == DeliveryState.IN_FLIGHT:
            raise ActionRefusedError("an attempt of this delivery is in progress")
        if current["state"] == DeliveryState.IN_BATCH:
            raise ActionRefusedError(
                "this delivery is in a batch being built or sent; retry the batch instead"
            )
        if current["delete_time"] is not None:
            raise ActionRefusedError(f"recipient {current['recipient_id']!r} was deleted")
        if current["recipient_state"] == RecipientState.DISABLED:
            raise ActionRefusedError(
                f"recipient {current['recipient_id']!r} is disabled; enable it first"
            )
        row = await fetchrow(
            connection, "make_delivery_due", delivery_id=delivery_id, requested_by=requested_by
        )
        assert row is not None
        await record_change(connection, audit)
        await execute(connection, "notify_deliveries_due")
        return delivery_from_row(row)


async def resend_feedback(
    pool: asyncpg.Pool, feedback_id: str, recipient_id: str, requested_by: str, audit: AuditEntry
) -> DeliveryRow:
    async with pool.acquire() as connection, connection.transaction():
        existing = await fetchval(
            connection,
            "select_delivery_of_feedback_for_update",
            feedback_id=feedback_id,
            recipient_id=recipient_id,
        )
        if existing is not None:
            current = await fetchrow(connection, "select_delivery_for_update", delivery_id=existing)
            assert current is not None
            if current["state"] in (DeliveryState.IN_FLIGHT, DeliveryState.IN_BATCH):
                raise ActionRefusedError(
                    "an attempt of this delivery is in progress (alone or in a batch)"
                )
            row = await fetchrow(
                connection, "make_delivery_due", delivery_id=existing, requested_by=requested_by
            )
        else:
            row = await fetchrow(
                connection,
                "insert_resend_delivery",
                delivery_id=new_id("dlv"),
                feedback_id=feedback_id,
                recipient_id=recipient_id,
                requested_by=requested_by,
            )
            if row is None:
                raise DeliveryMissingError(feedback_id)
        assert row is not None
        await record_change(connection, audit)
        await execute(connection, "notify_deliveries_due")
        return delivery_from_row(row)


async def recover_deliveries(
    pool: asyncpg.Pool,
    recipient_id: str,
    start: datetime,
    end: datetime,
    requested_by: str,
    audit: AuditEntry,
    source_ids: Sequence[str] | None = None,
) -> int:
    """Makes the recipient's failed and dead deliveries created in [start, end) due now
    (only those of feedback from ``source_ids`` unless None), recorded with ``audit``
    (its details gain the count)."""
    async with pool.acquire() as connection, connection.transaction():
        rows = await fetch(
            connection,
            "recover_deliveries",
            recipient_id=recipient_id,
            created_from=start,
            created_before=end,
            requested_by=requested_by,
            source_ids=None if source_ids is None else list(source_ids),
        )
        await record_change(
            connection,
            audit._replace(details=(*audit.details, ("recovered_count", str(len(rows))))),
        )
        if rows:
            await execute(connection, "notify_deliveries_due")
        return len(rows)
