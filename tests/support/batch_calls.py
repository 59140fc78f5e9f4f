"""Batch recipients and batches over the real API: create one, send it feedback, run its
batch now, wait for the batch to reach a state."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import grpc
from backchannel_client.v1 import (
    batch_pb2,
    batch_service_pb2,
    batch_service_pb2_grpc,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
    recipient_pb2,
    recipient_service_pb2,
    recipient_service_pb2_grpc,
)
from google.protobuf import json_format

from support.brief_example import brief_example_feedback
from support.polling import eventually

FINISHED = (
    batch_pb2.BATCH_STATE_SUCCEEDED,
    batch_pb2.BATCH_STATE_FAILED,
    batch_pb2.BATCH_STATE_DEAD,
    batch_pb2.BATCH_STATE_HELD,
)


def batch_recipient(
    recipient_id: str,
    transport: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, Any],
    batch: Mapping[str, Any],
    format_options: Mapping[str, Any] | None = None,
) -> recipient_pb2.Recipient:
    """A recipient message; ``batch`` is the BatchSettings as proto JSON."""
    return json_format.ParseDict(
        {
            "id": recipient_id,
            "recipientType": "RECIPIENT_TYPE_SYSTEM",
            "transport": transport,
            "transportSettings": dict(settings),
            "secretSettings": dict(secrets),
            "formatOptions": dict(format_options or {}),
            "batch": dict(batch),
            "retryPolicy": {"retryDelays": ["0.2s", "0.2s"], "maxAttempts": 3},
        },
        recipient_pb2.Recipient(),
    )


async def create(channel: grpc.aio.Channel, recipient: recipient_pb2.Recipient) -> None:
    stub = recipient_service_pb2_grpc.RecipientServiceStub(channel)
    await stub.CreateRecipient(recipient_service_pb2.CreateRecipientRequest(recipient=recipient))


async def send_feedback(
    channel: grpc.aio.Channel, recipient_id: str, count: int, prefix: str = "lead"
) -> list[str]:
    """Sends ``count`` brief-example feedback (lead ids ``<prefix>-<n>``); their ids."""
    stub = feedback_service_pb2_grpc.FeedbackServiceStub(channel)
    ids = []
    for number in range(count):
        feedback = brief_example_feedback()
        feedback.lead.lead_id = f"{prefix}-{number}"
        answer = await stub.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id=str(uuid.uuid4()), feedback=feedback, recipient_ids=[recipient_id]
            )
        )
        ids.append(answer.feedback.id)
    return ids


def batches(channel: grpc.aio.Channel) -> batch_service_pb2_grpc.BatchServiceStub:
    return batch_service_pb2_grpc.BatchServiceStub(channel)


async def run_now(channel: grpc.aio.Channel, recipient_id: str) -> batch_pb2.Batch:
    answer = await batches(channel).RunBatch(
        batch_service_pb2.RunBatchRequest(recipient_id=recipient_id, requested_by="tests")
    )
    return answer.batch


async def finished(
    channel: grpc.aio.Channel, batch_id: str, timeout: float = 30.0
) -> batch_service_pb2.GetBatchResponse:
    async def check() -> batch_service_pb2.GetBatchResponse | None:
        answer = await batches(channel).GetBatch(
            batch_service_pb2.GetBatchRequest(batch_id=batch_id, item_limit=1000)
        )
        return answer if answer.batch.state in FINISHED else None

    return await eventually(check, timeout=timeout)


async def backchannel_cli(address: str, *args: str) -> tuple[int, str, str]:
    """``backchannel ARGS`` against the server at ``address``: exit code, stdout, stderr."""
    import asyncio
    import os
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env["BACKCHANNEL_SERVER"] = address
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("backchannel")), *args, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
