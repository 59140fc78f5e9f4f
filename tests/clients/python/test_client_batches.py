"""The Python client's batch calls (Client and AsyncClient) against a real server: preview
the next file, run it, read it back, and an operator's refusal as an error carrying why."""

from __future__ import annotations

import asyncio

import pytest
from backchannel_client import AsyncClient, Client, FailedPreconditionError
from backchannel_client.v1 import batch_pb2
from support.batch_calls import batch_recipient, create, finished, send_feedback
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver


@pytest.fixture
async def files(backchannel: RunningServer, receiver: WebhookReceiver) -> RunningServer:
    await create(
        backchannel.channel,
        batch_recipient(
            "files", "webhook", {"url": receiver.url}, {}, {"schedule": {"cron": "0 2 * * *"}}
        ),
    )
    await send_feedback(backchannel.channel, "files", 2)
    return backchannel


async def test_the_async_client_previews_runs_lists_and_reads_a_batch(
    files: RunningServer,
) -> None:
    async with AsyncClient(files.address) as client:
        preview = await client.run_batch("files", dry_run=True)
        assert (preview.file_name, preview.row_count) == ("files-000001.csv", 2)
        ran = await client.run_batch("files", requested_by="client-test")
        await finished(files.channel, ran.batch.id)
        [listed] = (await client.list_batches("files")).batches
        assert listed.id == ran.batch.id and listed.state == batch_pb2.BATCH_STATE_SUCCEEDED
        got = await client.get_batch(ran.batch.id)
        assert len(got.items) == 2 and len(got.attempts) == 1
        with pytest.raises(FailedPreconditionError) as refused:
            await client.retry_batch(ran.batch.id, requested_by="client-test")
        assert "only failed, dead or held" in str(refused.value)


async def test_the_sync_client_lists_a_recipients_batches(files: RunningServer) -> None:
    def calls() -> tuple[str, int]:
        with Client(files.address) as client:
            preview = client.run_batch("files", dry_run=True, preview_rows=1)
            return preview.file_name, len(client.list_batches("files").batches)

    assert await asyncio.to_thread(calls) == ("files-000001.csv", 0)
