"""A SendFeedback whose database connection is lost while its statement is in flight:
the commit may have landed with its answer lost. The server finds out before answering:
a request that was stored is answered as stored (once), and only when the outcome cannot
be found out in time is the answer UNAVAILABLE with reason COMMIT_OUTCOME_UNKNOWN, never
the "nothing stored" of a plain outage. A proxy in front of Postgres cuts the server's
connection right after passing on the statement that carries a chosen request id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from backchannel_client.v1 import feedback_service_pb2
from support.brief_example import brief_example_feedback
from support.commit_cutting_proxy import CommitCuttingProxy
from support.in_process_server import RunningServer, serving
from support.postgres_cluster import PostgresCluster
from support.rpc_errors import rich_error

TRIGGER = b"lost-accept-"


@pytest.fixture
async def through_proxy(
    postgres: PostgresCluster, database_url: str
) -> AsyncIterator[tuple[CommitCuttingProxy, RunningServer]]:
    async with (
        CommitCuttingProxy(postgres.port, TRIGGER, commit_marker=None) as proxy,
        serving(proxy.url(database_url), dispatcher_enabled=False) as running,
    ):
        yield proxy, running


def request(request_id: str) -> feedback_service_pb2.SendFeedbackRequest:
    return feedback_service_pb2.SendFeedbackRequest(
        request_id=request_id, feedback=brief_example_feedback()
    )


async def stored(database_url: str, request_id: str) -> list[str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT id FROM feedback WHERE request_id = $1", request_id)
    finally:
        await connection.close()
    return [row["id"] for row in rows]


async def retry_until_answered(
    running: RunningServer, again: feedback_service_pb2.SendFeedbackRequest
) -> feedback_service_pb2.SendFeedbackResponse:
    """What a client does with UNAVAILABLE: the same request again, until answered."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        try:
            answer: feedback_service_pb2.SendFeedbackResponse = await running.feedback.SendFeedback(
                again, timeout=30
            )
            return answer
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or loop.time() > deadline:
                raise
        await asyncio.sleep(0.2)


async def test_a_send_whose_commit_landed_with_its_answer_lost_is_answered_as_stored(
    through_proxy: tuple[CommitCuttingProxy, RunningServer], database_url: str
) -> None:
    proxy, running = through_proxy
    proxy.arm(1)

    answer = await running.feedback.SendFeedback(request("lost-accept-1"), timeout=30)

    assert proxy.cuts == 1
    assert await stored(database_url, "lost-accept-1") == [answer.feedback.id]


async def test_a_send_whose_outcome_cannot_be_found_out_says_so_and_a_retry_settles_it(
    through_proxy: tuple[CommitCuttingProxy, RunningServer], database_url: str
) -> None:
    proxy, running = through_proxy
    # Every connection to the database is cut, and none can be made, for longer than the
    # server looks for the outcome (5 s).
    proxy.arm(1, outage_seconds=8.0)

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await running.feedback.SendFeedback(request("lost-accept-2"), timeout=30)

    error = rich_error(failure.value)
    assert (error.code, error.error_info.reason) == (
        grpc.StatusCode.UNAVAILABLE,
        "COMMIT_OUTCOME_UNKNOWN",
    )
    (feedback_id,) = await stored(database_url, "lost-accept-2")
    retried = await retry_until_answered(running, request("lost-accept-2"))
    assert retried.feedback.id == feedback_id
    assert await stored(database_url, "lost-accept-2") == [feedback_id]
