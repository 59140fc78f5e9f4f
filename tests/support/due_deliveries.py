"""Due deliveries written straight into the store (feedback rows with empty records), for
tests of claiming that need a backlog without accepting it through the API."""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy


async def add_due_deliveries(
    database: asyncpg.Connection | asyncpg.Pool | PoolConnectionProxy,
    recipient: str,
    first: int,
    count: int,
) -> None:
    """``count`` feedback numbered from ``first``, each with one pending delivery to
    ``recipient``, due since an hour ago; each feedback about a lead of its own."""
    await database.execute(
        """
        WITH f AS (
            INSERT INTO feedback (id, request_id, request_digest, kind, lead_id, source_id,
                                  record, response, accept_time)
            SELECT $1 || '_fb_' || n, $1 || '_rq_' || n, '', 'conversion', 'LC' || n, 'S', '',
                   '', now() - interval '1 hour'
            FROM generate_series($2::int, $2::int + $3::int - 1) AS n
            RETURNING id, lead_id, accept_time
        )
        INSERT INTO deliveries (id, feedback_id, recipient_id, lead_id, state,
                                next_attempt_time, create_time, update_time, policy_start_time)
        SELECT 'dlv_' || f.id, f.id, $1, f.lead_id, 'pending', f.accept_time, f.accept_time,
               f.accept_time, f.accept_time
        FROM f
        """,
        recipient,
        first,
        count,
    )
