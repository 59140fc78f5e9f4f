"""Group commit: concurrent accepts share one statement and one commit, the writer lingers
only while requests keep arriving, and several requests with one request id in a batch
all get the one stored answer."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import asyncpg
from backchannel_client.v1 import feedback_service_pb2
from support.brief_example import brief_example_feedback
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver
from support.webhook_recipients import create_webhook_recipient

from backchannel.intake import Intake
from backchannel.model import NewDelivery, NewFeedback

RECIPIENT = "acme"
_serials = itertools.count(1)


def new_feedback(request_id: str, directory_version: int | None = None) -> NewFeedback:
    serial = next(_serials)
    return NewFeedback(
        id=f"fb_{serial:026d}",
        request_id=request_id,
        request_digest=b"digest",
        kind="conversion",
        lead_id="LC1",
        source_id="SRC",
        record=b"",
        response=f"answer {serial}".encode(),
        traceparent=None,
        accept_time=datetime.now(UTC),
        deliveries=(NewDelivery(id=f"dlv_{serial:026d}", recipient_id=RECIPIENT, state="pending"),),
        directory_version=directory_version,
    )


async def transactions_of(pool: asyncpg.Pool, request_ids: list[str]) -> list[str]:
    """The writing transaction of each request id's feedback row, in the given order."""
    rows = await pool.fetch(
        "SELECT request_id, xmin::text AS xid FROM feedback WHERE request_id = ANY($1)",
        request_ids,
    )
    by_id = {row["request_id"]: row["xid"] for row in rows}
    return [by_id[r] for r in request_ids]


async def test_concurrent_accepts_share_commits(
    backchannel: RunningServer,
    receiver: WebhookReceiver,
    signing_secret: str,
    database_url: str,
) -> None:
    await create_webhook_recipient(backchannel, RECIPIENT, receiver.url, signing_secret)
    requests = [
        feedback_service_pb2.SendFeedbackRequest(
            request_id=f"burst-{i}", feedback=brief_example_feedback(), recipient_ids=[RECIPIENT]
        )
        for i in range(32)
    ]

    await asyncio.gather(*(backchannel.feedback.SendFeedback(r) for r in requests))

    connection = await asyncpg.connect(database_url)
    try:
        rows, transactions = await connection.fetchrow(
            "SELECT count(*), count(DISTINCT xmin::text) FROM feedback"
        )
    finally:
        await connection.close()
    assert rows == 32
    assert transactions < rows


async def test_a_lone_request_is_written_without_lingering(
    store_pool: asyncpg.Pool, database_url: str
) -> None:
    # A writer that lingered for a lone request would hold it for a minute.
    intake = Intake(store_pool, database_url, linger_seconds=60.0)
    intake.start()
    try:
        answer = await asyncio.wait_for(intake.submit(new_feedback("lone")), 10.0)
    finally:
        await intake.stop()

    assert answer is not None and answer.request_id == "lone"


async def test_requests_arriving_while_the_writer_lingers_join_its_statement(
    store_pool: asyncpg.Pool, database_url: str
) -> None:
    intake = Intake(store_pool, database_url, linger_seconds=30.0, linger_step_seconds=0.5)
    intake.start()
    try:
        # Two at once make a batch of two: the writer lingers; the third arrives while it
        # waits; then a wait brings nothing more and it writes.
        first = asyncio.gather(
            intake.submit(new_feedback("first")), intake.submit(new_feedback("second"))
        )
        await asyncio.sleep(0.05)
        third = await asyncio.wait_for(intake.submit(new_feedback("third")), 20.0)
        await first
    finally:
        await intake.stop()

    assert third is not None
    assert len(set(await transactions_of(store_pool, ["first", "second", "third"]))) == 1


async def test_duplicates_in_one_batch_all_get_the_answer_of_the_one_written(
    store_pool: asyncpg.Pool, database_url: str
) -> None:
    # One request id twice in a batch: once chosen at a directory version that is no
    # longer current, once chosen again without a check. The second is the one stored,
    # and both get its answer (a refused copy must not leave the other without one).
    stale = await store_pool.fetchval("SELECT version FROM recipient_directory_version") - 1
    intake = Intake(store_pool, database_url, linger_seconds=0.0)
    intake.start()
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(
                intake.submit(new_feedback("twice", directory_version=stale)),
                intake.submit(unchecked := new_feedback("twice")),
            ),
            10.0,
        )
    finally:
        await intake.stop()

    assert [a.response if a else None for a in answers] == [unchecked.response] * 2
    assert await store_pool.fetchval("SELECT count(*) FROM feedback") == 1


async def test_the_writer_outlives_a_connection_whose_session_the_server_ended(
    store_pool: asyncpg.Pool, database_url: str
) -> None:
    # The server ends the writer's idle session (as a restart does); asyncpg then hands the
    # pooled connection back to the pool by itself, and any call on it raises. The batch
    # that meets it is answered with an error (nothing was sent on it) and the writer goes
    # on with a fresh connection: before, the writer task died on it and every later
    # accept waited for ever (seen as DEADLINE_EXCEEDED in test_postgres_restart).
    intake = Intake(store_pool, database_url, linger_seconds=0.0)
    intake.start()
    try:
        first = await asyncio.wait_for(intake.submit(new_feedback("before")), 10.0)
        assert first is not None
        writer_pid = await store_pool.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE backend_xid IS NULL AND pid <> "
            "pg_backend_pid() AND datname = current_database() AND state = 'idle' AND "
            "query LIKE '%feedback%' ORDER BY state_change DESC LIMIT 1"
        )
        assert writer_pid is not None
        await store_pool.execute("SELECT pg_terminate_backend($1)", writer_pid)
        await asyncio.sleep(0.5)  # asyncpg sees the closed socket and detaches the proxy
        answers: list[object] = []
        for request_id in ("during", "after"):
            try:
                answers.append(
                    await asyncio.wait_for(intake.submit(new_feedback(request_id)), 10.0)
                )
            except TimeoutError:
                raise AssertionError("the writer no longer answers") from None
            except Exception as error:  # the batch that met the ended session
                answers.append(type(error).__name__)
    finally:
        await intake.stop()

    assert answers[-1] is not None and not isinstance(answers[-1], str), answers
    stored = await store_pool.fetchval(
        "SELECT count(*) FROM feedback WHERE request_id IN ('before', 'after')"
    )
    assert stored == 2
