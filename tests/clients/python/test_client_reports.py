"""The Python client's report calls (Client and AsyncClient) against a real server:
define a report, preview it, run it once for a period, change and delete it, and bad input
as an error listing every violation."""

from __future__ import annotations

import asyncio
import json

import pytest
from backchannel_client import AsyncClient, Client, InvalidArgumentError
from backchannel_client.v1 import report_pb2
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver
from support.webhook_recipients import create_webhook_recipient


@pytest.fixture
async def server(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> RunningServer:
    await create_webhook_recipient(backchannel, "sink", receiver.url, signing_secret)
    return backchannel


def weekly() -> report_pb2.Report:
    return report_pb2.Report(recipient_id="sink", source_ids=["src-a"], cron="0 6 * * 1")


async def test_the_async_client_defines_previews_runs_and_deletes_a_report(
    server: RunningServer, receiver: WebhookReceiver
) -> None:
    async with AsyncClient(server.address) as client:
        report = await client.create_report(weekly())
        preview = await client.run_report(report.id, "2026-11", dry_run=True)
        assert json.loads(preview.content)["period"]["label"] == "2026-11"
        ran = await client.run_report(report.id, "2026-11", requested_by="client-test")
        assert ran.run.report_id == report.id
        await receiver.wait_for(1)
        report.title = "Renamed"
        assert (await client.update_report(report)).title == "Renamed"
        [run] = (await client.get_report(report.id)).runs
        assert run.id == ran.run.id
        await client.delete_report(report.id)
        assert list((await client.list_reports()).reports) == []


async def test_the_sync_client_refuses_a_bad_definition_with_every_violation(
    server: RunningServer,
) -> None:
    def calls() -> str:
        bad = weekly()
        bad.cron, bad.time_zone = "nope", "Nowhere/Land"
        with Client(server.address) as client:
            try:
                client.create_report(bad)
            except InvalidArgumentError as error:
                return str(error)
            return "stored"

    message = await asyncio.to_thread(calls)
    assert "report.cron" in message and "report.time_zone" in message
