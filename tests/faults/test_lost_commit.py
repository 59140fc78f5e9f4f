"""The answer to a recording COMMIT lost in transit: Postgres committed an attempt's event
and its delivery's new state, but the server only saw its connection die (a network path
or pooler failing at the worst moment; a Postgres fast shutdown can do the same). The
server cannot tell a lost answer from a lost commit, so it writes again; that must
neither record the attempt twice nor stop the recording of every later attempt.

The scenario runs once for the module; each test checks one promise of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from backchannel_client.v1 import feedback_service_pb2
from support.brief_example import brief_example_feedback
from support.commit_cutting_proxy import CommitCuttingProxy
from support.outbox_state import (
    AttemptRow,
    DeliveryRow,
    attempts,
    deliveries,
    wait_for_succeeded,
)
from support.postgres_cluster import PostgresCluster
from support.recording_sink import RecordingSink
from support.scratch_database import scratch_database
from support.server_process import ServerLauncher, ServerProcess
from support.waiting import wait_until
from support.webhook_recipients import create_webhook_recipient

#: The last statement of the transaction that records attempts, before its COMMIT.
RECORDING_MARKER = b"pg_notify('backchannel_events'"


@dataclass
class LostCommit:
    first_delivery: str
    second_delivery: str
    drained: bool
    final: dict[str, DeliveryRow]
    attempts: list[AttemptRow]
    server: ServerProcess


async def _send(server: ServerProcess, request_id: str) -> str:
    answer = await server.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id=request_id, feedback=brief_example_feedback(), recipient_ids=["acme"]
        )
    )
    delivery_id: str = answer.deliveries[0].id
    return delivery_id


@pytest.fixture(scope="module")
async def lost_commit(postgres: PostgresCluster, signing_secret: str) -> AsyncIterator[LostCommit]:
    async with (
        scratch_database(postgres) as database_url,
        CommitCuttingProxy(postgres.port, RECORDING_MARKER) as proxy,
        RecordingSink() as sink,
        ServerLauncher(proxy.url(database_url)) as servers,
    ):
        server = await servers.start()
        await create_webhook_recipient(server, "acme", sink.url(), signing_secret)
        proxy.arm(1)
        first = await _send(server, "lost-commit-1")
        assert await wait_until(lambda: proxy.cuts == 1, timeout=30), "no COMMIT was cut"

        async def first_is_recorded() -> bool:
            return any(a.delivery_id == first for a in await attempts(database_url))

        assert await wait_until(first_is_recorded, timeout=10), (
            f"the cut COMMIT did not take effect:\n{server.log()}"
        )
        second = await _send(server, "lost-commit-2")
        drained = await wait_for_succeeded(database_url, 2, timeout=20)
        yield LostCommit(
            first_delivery=first,
            second_delivery=second,
            drained=drained,
            final=await deliveries(database_url),
            attempts=await attempts(database_url),
            server=server,
        )


async def test_an_attempt_whose_recording_commit_answer_was_lost_is_recorded_once(
    lost_commit: LostCommit,
) -> None:
    recorded = [a for a in lost_commit.attempts if a.delivery_id == lost_commit.first_delivery]
    assert len(recorded) == 1, recorded
    assert lost_commit.final[lost_commit.first_delivery].state == "succeeded"


async def test_attempts_after_a_lost_recording_commit_answer_are_still_recorded(
    lost_commit: LostCommit,
) -> None:
    second = lost_commit.final[lost_commit.second_delivery]
    assert lost_commit.drained and second.state == "succeeded", (
        f"{second}\n{lost_commit.server.log()}"
    )
