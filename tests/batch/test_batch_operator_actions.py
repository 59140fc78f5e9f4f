"""Operator actions on batch recipients behave as they do for individual deliveries: a
batch whose attempts run out is dead and RetryBatch sends the same file again; resending
a feedback puts it in the next batch; pausing stops runs and deleting cancels what waits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from aiohttp import web
from backchannel_client.v1 import (
    batch_pb2,
    batch_service_pb2,
    delivery_service_pb2,
    delivery_service_pb2_grpc,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
)
from support.batch_calls import (
    batch_recipient,
    batches,
    create,
    finished,
    run_now,
    send_feedback,
)
from support.database_rows import delivery_states
from support.in_process_server import RunningServer, serving
from support.polling import eventually
from support.receiver import WebhookReceiver


@pytest.fixture
async def server(database_url: str, receiver: WebhookReceiver) -> AsyncIterator[RunningServer]:
    async with serving(database_url) as running:
        await create(
            running.channel,
            batch_recipient(
                "files", "webhook", {"url": receiver.url}, {}, {"schedule": {"cron": "0 2 * * *"}}
            ),
        )
        yield running


async def test_a_dead_batch_is_sent_again_by_retry_batch_with_the_same_bytes(
    server: RunningServer, receiver: WebhookReceiver
) -> None:
    receiver.respond = lambda _r: web.Response(status=503)
    ids = await send_feedback(server.channel, "files", 3)
    batch = await run_now(server.channel, "files")
    dead = await finished(server.channel, batch.id)
    assert dead.batch.state == batch_pb2.BATCH_STATE_DEAD
    assert dead.batch.attempt_count == 3 and len(dead.attempts) == 3
    failed_bodies = {r.body for r in receiver.requests}
    assert len(failed_bodies) == 1
    receiver.respond = lambda _r: web.Response(status=204)
    retried = await batches(server.channel).RetryBatch(
        batch_service_pb2.RetryBatchRequest(batch_id=batch.id, requested_by="ops")
    )
    assert retried.batch.state == batch_pb2.BATCH_STATE_PENDING
    done = await finished(server.channel, batch.id)
    assert done.batch.state == batch_pb2.BATCH_STATE_SUCCEEDED
    assert {r.body for r in receiver.requests} == failed_bodies
    assert {r.headers["webhook-id"] for r in receiver.requests} == {batch.id}
    assert done.attempts[-1].requested_by == "ops"

    async def all_succeeded() -> bool:
        states = [await delivery_states(server_url(server), i) for i in ids]
        return all(s == {"files": "succeeded"} for s in states)

    await eventually(all_succeeded)


def server_url(server: RunningServer) -> str:
    return server.server.database_url


async def test_a_resent_feedback_goes_in_the_next_batch(
    server: RunningServer, receiver: WebhookReceiver
) -> None:
    [feedback_id] = await send_feedback(server.channel, "files", 1)
    first = await run_now(server.channel, "files")
    await finished(server.channel, first.id)
    await eventually(lambda: _state_is(server, feedback_id, "succeeded"))
    answer = await delivery_service_pb2_grpc.DeliveryServiceStub(server.channel).ResendFeedback(
        delivery_service_pb2.ResendFeedbackRequest(
            feedback_id=feedback_id, recipient_id="files", requested_by="ops"
        )
    )
    assert answer.delivery.state == feedback_service_pb2.DELIVERY_STATE_AWAITING_BATCH
    second = await run_now(server.channel, "files")
    assert second.id != first.id and second.sequence == 2
    done = await finished(server.channel, second.id)
    assert [item.feedback_id for item in done.items] == [feedback_id]
    assert len(receiver.requests) == 2


async def _state_is(server: RunningServer, feedback_id: str, state: str) -> bool:
    return (await delivery_states(server_url(server), feedback_id)) == {"files": state}


async def test_a_paused_recipient_runs_no_batch_and_a_deleted_one_cancels_what_waits(
    server: RunningServer,
) -> None:
    [feedback_id] = await send_feedback(server.channel, "files", 1)
    await server.recipients.UpdateRecipient(
        recipient_service_pb2.UpdateRecipientRequest(
            recipient=recipient_pb2.Recipient(
                id="files", state=recipient_pb2.RECIPIENT_STATE_PAUSED
            ),
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await run_now(server.channel, "files")
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await _state_is(server, feedback_id, "awaiting_batch")
    await server.recipients.DeleteRecipient(
        recipient_service_pb2.DeleteRecipientRequest(recipient_id="files")
    )
    assert await _state_is(server, feedback_id, "cancelled")


async def test_the_file_of_a_dead_batch_is_kept_until_retention_then_retry_is_refused(
    server: RunningServer, receiver: WebhookReceiver
) -> None:
    receiver.respond = lambda _r: web.Response(status=410)
    await send_feedback(server.channel, "files", 1)
    batch = await run_now(server.channel, "files")
    done = await finished(server.channel, batch.id)
    assert done.batch.state == batch_pb2.BATCH_STATE_FAILED
    pool = server.server._pool
    engine = server.server._delivery
    assert pool is not None and engine is not None
    await engine.batches.prune_spools()
    assert await pool.fetchval("SELECT count(*) FROM pg_largeobject_metadata") == 1
    await pool.execute("UPDATE batches SET update_time = now() - interval '40 days'")
    await engine.batches.prune_spools()
    assert await pool.fetchval("SELECT count(*) FROM pg_largeobject_metadata") == 0
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await batches(server.channel).RetryBatch(
            batch_service_pb2.RetryBatchRequest(batch_id=batch.id, requested_by="ops")
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no longer kept" in (refused.value.details() or "")


async def test_a_size_trigger_sends_early_files_of_max_rows_and_leaves_the_rest_waiting(
    database_url: str, receiver: WebhookReceiver
) -> None:
    async with serving(database_url) as running:
        await create(
            running.channel,
            batch_recipient(
                "early",
                "webhook",
                {"url": receiver.url},
                {},
                {"schedule": {"cron": "0 2 * * *"}, "maxRows": 3},
            ),
        )
        ids = await send_feedback(running.channel, "early", 7)
        await receiver.wait_for(2, timeout=30)

        async def two_files() -> list[int] | None:
            listed = await batches(running.channel).ListBatches(
                batch_service_pb2.ListBatchesRequest(recipient_id="early")
            )
            counts = [b.row_count for b in listed.batches]
            done = all(b.state == batch_pb2.BATCH_STATE_SUCCEEDED for b in listed.batches)
            return counts if len(counts) == 2 and done else None

        assert await eventually(two_files) == [3, 3]
        states = [await delivery_states(database_url, i) for i in ids]
        assert states.count({"early": "awaiting_batch"}) == 1


async def test_ending_members_of_a_batch_an_operator_retried_meanwhile_changes_nothing(
    server: RunningServer, receiver: WebhookReceiver
) -> None:
    """A settle that read the batch as dead before RetryBatch revived its members must not
    end them again (it did: the retried batch succeeded with members left dead)."""
    from backchannel.store import batches as batch_store

    receiver.respond = lambda _r: web.Response(status=503)
    ids = await send_feedback(server.channel, "files", 2)
    batch = await run_now(server.channel, "files")
    dead = await finished(server.channel, batch.id)
    await eventually(lambda: _all_in_state(server, ids, "dead"))
    pool = server.server._pool
    assert pool is not None
    await pool.execute("UPDATE batches SET state = 'held', members_settled = true")
    await batches(server.channel).RetryBatch(
        batch_service_pb2.RetryBatchRequest(batch_id=batch.id, requested_by="ops")
    )
    await pool.execute("UPDATE batches SET state = 'dead'")  # as the stale settle read it
    ended = await batch_store.settle_chunk(
        pool, batch.id, "dead", dead.batch.attempt_count - 1, 100, lambda rows: []
    )
    assert ended == 0
    assert (
        await batch_store.mark_settled(pool, batch.id, "dead", dead.batch.attempt_count - 1) is None
    )


async def _all_in_state(server: RunningServer, ids: list[str], state: str) -> bool:
    states = [await delivery_states(server_url(server), i) for i in ids]
    return all(s == {"files": state} for s in states)
