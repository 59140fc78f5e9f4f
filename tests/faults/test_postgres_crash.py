"""Postgres crashing under load (``pg_ctl stop -m immediate``, then started again), the
server left running: a SendFeedback answered UNAVAILABLE whose request turns out stored
must carry the reason COMMIT_OUTCOME_UNKNOWN (its commit landed, its answer was lost, and
the server could not find out in time); a plain UNAVAILABLE means nothing was stored.
Each sender uses a new request id per call and never retries one during the load, so a
stored request id answered UNAVAILABLE is exactly such a lost answer.

The scenario runs once for the module, on a Postgres cluster of its own.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from backchannel_client.v1 import feedback_service_pb2
from support.brief_example import brief_example_feedback
from support.outbox_state import stored_request_ids
from support.postgres_cluster import PostgresCluster
from support.rpc_errors import rich_error
from support.server_process import ServerLauncher, ServerProcess
from support.waiting import wait_until

SENDERS = 8
CRASHES = 4
DOWN_SECONDS = 1.0
#: Calls answered OK after each restart before the next crash.
ANSWERED_BETWEEN = 100


@dataclass(frozen=True)
class Call:
    request_id: str
    code: grpc.StatusCode
    reason: str


@dataclass
class CrashScenario:
    calls: list[Call]
    stored: Counter[str]
    server: ServerProcess


async def _send(server: ServerProcess, request_id: str) -> Call:
    request = feedback_service_pb2.SendFeedbackRequest(
        request_id=request_id, feedback=brief_example_feedback()
    )
    try:
        await server.feedback.SendFeedback(request, timeout=30)
    except grpc.aio.AioRpcError as error:
        reason = (
            rich_error(error).error_info.reason
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED
            else ""
        )
        return Call(request_id, error.code(), reason)
    return Call(request_id, grpc.StatusCode.OK, "")


async def _run(cluster: PostgresCluster, servers: ServerLauncher) -> CrashScenario:
    server = await servers.start(dispatcher_enabled="false")
    calls: list[Call] = []
    numbers = itertools.count()
    stop = asyncio.Event()

    async def sender() -> None:
        while not stop.is_set():
            call = await _send(server, f"crash-{next(numbers)}")
            calls.append(call)
            if call.code != grpc.StatusCode.OK:
                await asyncio.sleep(0.02)

    senders = [asyncio.create_task(sender()) for _ in range(SENDERS)]
    for _ in range(CRASHES):
        answered = sum(c.code == grpc.StatusCode.OK for c in calls)
        await wait_until(
            lambda answered=answered: (
                sum(c.code == grpc.StatusCode.OK for c in calls) >= answered + ANSWERED_BETWEEN
            ),
            timeout=30,
        )
        await asyncio.to_thread(cluster.stop, "immediate")
        await asyncio.sleep(DOWN_SECONDS)
        await asyncio.to_thread(cluster.start)
    answered = sum(c.code == grpc.StatusCode.OK for c in calls)
    await wait_until(
        lambda: sum(c.code == grpc.StatusCode.OK for c in calls) >= answered + ANSWERED_BETWEEN,
        timeout=30,
    )
    stop.set()
    await asyncio.gather(*senders)
    return CrashScenario(calls, await stored_request_ids(cluster.url()), server)


@pytest.fixture(scope="module")
async def crash() -> AsyncIterator[CrashScenario]:
    cluster = PostgresCluster()
    try:
        await asyncio.to_thread(cluster.init)
        await asyncio.to_thread(cluster.start)
        async with ServerLauncher(cluster.url()) as servers:
            yield await _run(cluster, servers)
    finally:
        await asyncio.to_thread(cluster.destroy)


async def test_postgres_crashes_failed_calls_under_load(crash: CrashScenario) -> None:
    failed = Counter((c.code.name, c.reason) for c in crash.calls if c.code != grpc.StatusCode.OK)
    assert failed, "no call failed: the crashes were not under load"
    assert {code for code, _ in failed} == {"UNAVAILABLE"}, f"{failed}\n{crash.server.log()}"


async def test_an_unavailable_answer_for_a_stored_request_says_its_outcome_was_unknown(
    crash: CrashScenario,
) -> None:
    lost_answers = [
        c
        for c in crash.calls
        if c.code == grpc.StatusCode.UNAVAILABLE and c.request_id in crash.stored
    ]
    assert [c for c in lost_answers if c.reason != "COMMIT_OUTCOME_UNKNOWN"] == [], (
        crash.server.log()
    )


async def test_every_request_answered_ok_is_stored_once(crash: CrashScenario) -> None:
    answered = {c.request_id for c in crash.calls if c.code == grpc.StatusCode.OK}
    assert answered <= set(crash.stored)
    assert set(crash.stored.values()) == {1}
