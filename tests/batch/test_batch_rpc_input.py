"""Any input to the BatchService RPCs gets an answer a caller can act on (OK,
INVALID_ARGUMENT with its field violations, NOT_FOUND, FAILED_PRECONDITION), never
INTERNAL or UNKNOWN; and a refused request changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from backchannel_client.v1 import (
    batch_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
    recipient_service_pb2_grpc,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.batch_calls import batch_recipient, batches, create, send_feedback
from support.in_process_server import RunningServer, serving
from support.receiver import WebhookReceiver
from support.rpc_errors import rich_error

ACTIONABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
}
#: Text that ids, tokens and names may be: valid ones, near misses, NUL, huge, unicode.
texts = st.one_of(
    st.sampled_from(["files", "bat_x", "", "FILES", "files-", "1", "tests"]),
    st.text(max_size=40),
    st.text(alphabet="\x00abc", max_size=5),
    st.just("x" * 5000),
)
numbers = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, 100, 101, 1001]))
requests = st.one_of(
    st.builds(
        batch_service_pb2.ListBatchesRequest,
        recipient_id=texts, page_size=numbers, page_token=texts,
    ),
    st.builds(batch_service_pb2.GetBatchRequest, batch_id=texts, item_limit=numbers),
    st.builds(
        batch_service_pb2.RunBatchRequest,
        recipient_id=texts, dry_run=st.booleans(), preview_rows=numbers, requested_by=texts,
    ),
    st.builds(batch_service_pb2.RetryBatchRequest, batch_id=texts, requested_by=texts),
)  # fmt: skip


@pytest.fixture
async def server(database_url: str, receiver: WebhookReceiver) -> AsyncIterator[RunningServer]:
    async with serving(database_url, dispatcher_enabled=False) as running:
        await create(
            running.channel,
            batch_recipient(
                "files", "webhook", {"url": receiver.url}, {}, {"schedule": {"cron": "0 2 * * *"}}
            ),
        )
        await send_feedback(running.channel, "files", 2)
        yield running


async def _batch_rows(server: RunningServer) -> list[tuple[object, ...]]:
    pool = server.server._pool
    assert pool is not None
    rows = await pool.fetch("SELECT id, state, attempt_count FROM batches ORDER BY id")
    deliveries = await pool.fetch("SELECT id, state, batch_id FROM deliveries ORDER BY id")
    return [tuple(r) for r in rows] + [tuple(r) for r in deliveries]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=requests)
async def test_any_request_gets_an_actionable_answer_and_a_refusal_changes_nothing(
    server: RunningServer, request: object
) -> None:
    stub = batches(server.channel)
    method = {
        batch_service_pb2.ListBatchesRequest: stub.ListBatches,
        batch_service_pb2.GetBatchRequest: stub.GetBatch,
        batch_service_pb2.RunBatchRequest: stub.RunBatch,
        batch_service_pb2.RetryBatchRequest: stub.RetryBatch,
    }[type(request)]
    before = await _batch_rows(server)
    try:
        await method(request)  # type: ignore[operator]
    except grpc.aio.AioRpcError as error:
        assert error.code() in ACTIONABLE, (request, error.code(), error.details())
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            assert rich_error(error).violated_fields
        assert await _batch_rows(server) == before


crons = st.one_of(
    st.sampled_from(["0 2 * * *", "*/5 * * * *", "0 0 30 2 *", "61 1 * * *", "", "@daily"]),
    st.text(alphabet="0123456789*/,- LW#?", max_size=20),
    st.text(max_size=12),
)
zones = st.one_of(
    st.sampled_from(["", "UTC", "America/New_York", "Europe/Paris", "Nope/Nope", "../etc"]),
    st.text(max_size=12),
)
batch_settings = st.builds(
    recipient_pb2.BatchSettings,
    schedule=st.builds(recipient_pb2.BatchSchedule, cron=crons, time_zone=zones),
    max_rows=numbers,
    when_empty=st.integers(-1, 4),
    file=st.builds(
        recipient_pb2.BatchFile,
        format=st.integers(-1, 6),
        compression=st.integers(-1, 5),
        name_template=st.one_of(
            st.sampled_from(["{recipient_id}-{sequence:06d}.{ext}", "{run_time:%Y}.{ext}"]),
            st.text(max_size=20),
        ),
        done_marker=st.booleans(),
        manifest=st.booleans(),
    ),
    invalid_rows=st.integers(-1, 4),
    required_fields=st.lists(st.sampled_from(["lead_id", "outcome.value", "x..y", ""]), max_size=2),
    max_file_bytes=st.integers(-(2**40), 2**40),
    split_oversize=st.booleans(),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=batch_settings)
async def test_any_batch_settings_are_saved_or_refused_with_their_violations(
    server: RunningServer, batch: recipient_pb2.BatchSettings
) -> None:
    recipient = recipient_pb2.Recipient(
        id="anything",
        recipient_type=recipient_pb2.RECIPIENT_TYPE_SYSTEM,
        transport="webhook",
        batch=batch,
    )
    recipient.transport_settings.update({"url": "http://127.0.0.1:9/x"})
    stub = recipient_service_pb2_grpc.RecipientServiceStub(server.channel)
    pool = server.server._pool
    assert pool is not None
    before = await pool.fetchval("SELECT count(*) FROM recipients")
    try:
        await stub.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
        )
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (batch, error.details())
        assert rich_error(error).violated_fields
        assert await pool.fetchval("SELECT count(*) FROM recipients") == before
    else:
        await stub.DeleteRecipient(
            recipient_service_pb2.DeleteRecipientRequest(recipient_id="anything")
        )
