"""The storage floor of SendFeedback: a bare grpc.aio server that stores each request
through Backchannel's own storage path (the intake's group commit and the accept
statement on the real schema: a feedback row and a delivery row with their indexes and
checks) before answering, with none of SendFeedback's own work: no decoding, validation,
recipient lookup, record or answer building, span or error mapping. Each request is
stored as a copy of one prepared feedback with fresh ids, and answered with the echo
server's canned response.

What it measures is the most SendFeedback could reach here if all its own Python cost
nothing (diagnostic row 1***). Run as its own process by run.py:
``python bench/storage_floor_server.py --port N --database-url URL``; it prints
``PORT <n>`` once listening and stops by itself after ``--max-seconds``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from common import (
    RECIPIENT_ID,
    canned_response,
    run_floor_server,
    send_request,
    serve_raw_send_feedback,
)

from backchannel.ids import new_id
from backchannel.intake import Intake
from backchannel.model import NewDelivery, NewFeedback
from backchannel.store.database import create_pool
from backchannel.store.migrations import apply_migrations


async def serve(port: int, database_url: str, max_seconds: float) -> None:
    pool = await create_pool(database_url, 4)
    async with pool.acquire() as connection:
        await apply_migrations(connection)
        await connection.execute(
            "INSERT INTO recipients (id, recipient_type, transport, format, state)"
            " VALUES ($1, 'source', 'webhook', 'json', 'active')",
            RECIPIENT_ID,
        )
    intake = Intake(pool, database_url)
    intake.start()
    example = send_request("storage-floor").feedback
    record = example.SerializeToString()
    lead_id, source_id = example.lead.lead_id, example.lead.source_id
    answer = canned_response().SerializeToString()

    async def send_feedback(request: bytes, _context: object) -> bytes:
        feedback_id = new_id("fb")
        await intake.submit(
            NewFeedback(
                id=feedback_id,
                request_id=feedback_id,
                request_digest=hashlib.sha256(request).digest(),
                kind="conversion",
                lead_id=lead_id,
                source_id=source_id,
                record=record,
                response=answer,
                traceparent=None,
                accept_time=datetime.now(UTC),
                deliveries=(NewDelivery(new_id("dlv"), RECIPIENT_ID, "pending"),),
                directory_version=None,
            )
        )
        return answer

    await serve_raw_send_feedback(port, send_feedback, max_seconds)
    await intake.stop()
    await pool.close()


if __name__ == "__main__":
    run_floor_server(__doc__, serve)
