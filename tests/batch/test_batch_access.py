"""BatchService under access control, as every other service: each RPC needs its scope; a
caller narrowed to recipients reaches only their batches (others read as not found); one
narrowed to sources sees only its sources' items and may not run or retry a file (which
carries every source); runs and retries are recorded with who asked in the audit trail."""

from __future__ import annotations

import uuid

import grpc
import pytest
from backchannel_client.v1 import (
    audit_service_pb2,
    batch_pb2,
    batch_service_pb2,
    feedback_service_pb2,
    recipient_service_pb2,
)
from support.access import Calls, Secured, new_token
from support.batch_calls import FINISHED, batch_recipient
from support.brief_example import brief_example_feedback
from support.polling import eventually
from support.receiver import WebhookReceiver


async def _rpc_error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def _send(calls: Calls, recipient_id: str, source_id: str, count: int) -> None:
    for number in range(count):
        feedback = brief_example_feedback()
        feedback.lead.lead_id = f"{source_id}-{number}"
        feedback.lead.source_id = source_id
        await calls.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id=str(uuid.uuid4()), feedback=feedback, recipient_ids=[recipient_id]
            )
        )


async def _finished(calls: Calls, batch_id: str) -> batch_service_pb2.GetBatchResponse:
    async def check() -> batch_service_pb2.GetBatchResponse | None:
        answer = await calls.batches.GetBatch(
            batch_service_pb2.GetBatchRequest(batch_id=batch_id, item_limit=1000)
        )
        return answer if answer.batch.state in FINISHED else None

    result: batch_service_pb2.GetBatchResponse = await eventually(check, timeout=30)
    return result


@pytest.fixture
async def files(secured: Secured, receiver: WebhookReceiver) -> str:
    """Recipients "files" and "other", batch webhooks hearing every source; "files" has
    one sent batch of two sources' feedback. The batch's id."""
    for recipient_id in ("files", "other"):
        await secured.admin.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(
                recipient=batch_recipient(
                    recipient_id,
                    "webhook",
                    {"url": receiver.url},
                    {},
                    {"schedule": {"cron": "0 2 * * *"}},
                )
            )
        )
    await _send(secured.admin, "files", "SOURCE_ABC", 2)
    await _send(secured.admin, "files", "SOURCE_XYZ", 1)
    run = await secured.admin.batches.RunBatch(
        batch_service_pb2.RunBatchRequest(recipient_id="files", requested_by="typed note")
    )
    done = await _finished(secured.admin, run.batch.id)
    assert done.batch.state == batch_pb2.BATCH_STATE_SUCCEEDED
    return str(run.batch.id)


async def test_each_batch_rpc_needs_its_scope(secured: Secured, files: str) -> None:
    reader = secured.as_token(await new_token(secured.admin, "reader", ["feedback:read"]))
    listed = await reader.batches.ListBatches(
        batch_service_pb2.ListBatchesRequest(recipient_id="files")
    )
    assert [b.id for b in listed.batches] == [files]
    refused = await _rpc_error(
        reader.batches.RetryBatch(batch_service_pb2.RetryBatchRequest(batch_id=files))
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "deliveries:operate" in (refused.details() or "")
    operator = secured.as_token(await new_token(secured.admin, "ops", ["deliveries:operate"]))
    refused = await _rpc_error(
        operator.batches.GetBatch(batch_service_pb2.GetBatchRequest(batch_id=files))
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    anonymous = await _rpc_error(
        secured.as_token(None).batches.ListBatches(
            batch_service_pb2.ListBatchesRequest(recipient_id="files")
        )
    )
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_caller_narrowed_to_other_recipients_finds_no_batch(
    secured: Secured, files: str
) -> None:
    narrowed = secured.as_token(
        await new_token(
            secured.admin,
            "other-only",
            ["feedback:read", "deliveries:operate"],
            recipients=["other"],
        )
    )
    missing = await _rpc_error(
        narrowed.batches.GetBatch(batch_service_pb2.GetBatchRequest(batch_id=files))
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    nothing_like_it = await _rpc_error(
        narrowed.batches.GetBatch(batch_service_pb2.GetBatchRequest(batch_id="bat_nonexistent"))
    )
    # Said just as for a batch that does not exist: nothing tells that it does.
    assert nothing_like_it.code() == grpc.StatusCode.NOT_FOUND
    assert (missing.details() or "").replace(files, "ID") == (
        nothing_like_it.details() or ""
    ).replace("bat_nonexistent", "ID")
    missing = await _rpc_error(
        narrowed.batches.RetryBatch(batch_service_pb2.RetryBatchRequest(batch_id=files))
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    for call in (
        narrowed.batches.ListBatches(batch_service_pb2.ListBatchesRequest(recipient_id="files")),
        narrowed.batches.RunBatch(batch_service_pb2.RunBatchRequest(recipient_id="files")),
    ):
        denied = await _rpc_error(call)
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_caller_narrowed_to_a_source_sees_its_items_only_and_may_not_run(
    secured: Secured, files: str
) -> None:
    narrowed = secured.as_token(
        await new_token(
            secured.admin,
            "abc-only",
            ["feedback:read", "deliveries:operate"],
            sources=["SOURCE_ABC"],
        )
    )
    everything = await secured.admin.batches.GetBatch(
        batch_service_pb2.GetBatchRequest(batch_id=files)
    )
    assert sorted(i.lead_id for i in everything.items) == [
        "SOURCE_ABC-0",
        "SOURCE_ABC-1",
        "SOURCE_XYZ-0",
    ]
    seen = await narrowed.batches.GetBatch(batch_service_pb2.GetBatchRequest(batch_id=files))
    assert sorted(i.lead_id for i in seen.items) == ["SOURCE_ABC-0", "SOURCE_ABC-1"]
    for call in (
        narrowed.batches.RunBatch(
            batch_service_pb2.RunBatchRequest(recipient_id="files", dry_run=True)
        ),
        narrowed.batches.RetryBatch(batch_service_pb2.RetryBatchRequest(batch_id=files)),
    ):
        denied = await _rpc_error(call)
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_run_is_recorded_with_the_callers_identity_and_the_typed_note(
    secured: Secured, files: str
) -> None:
    trail = await secured.admin.audit.ListAuditRecords(
        audit_service_pb2.ListAuditRecordsRequest(filter='action = "batch.run"')
    )
    assert len(trail.records) == 1
    record = trail.records[0]
    assert (record.actor, record.target) == ("admin", "recipients/files")
    details = dict(record.details)
    assert details == {"requested_by_note": "typed note", "batch_id": files}
    batch = await secured.admin.batches.GetBatch(batch_service_pb2.GetBatchRequest(batch_id=files))
    assert batch.attempts[0].requested_by.startswith("admin (tok_")
