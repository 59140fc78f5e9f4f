"""``backchannel serve`` with BACKCHANNEL_DELIVERY_PROCESSES: the serving process only
accepts and its child processes deliver. A child killed with SIGKILL is started again and
nothing accepted is lost; the children stop with serve, on SIGTERM and also when serve
itself is killed."""

from __future__ import annotations

import os
from pathlib import Path

from support.brief_example import brief_example_feedback
from support.feedback_load import SendOutcomes, numbered_requests, send_all
from support.outbox_state import attempts, wait_for_succeeded
from support.postgres_cluster import PostgresCluster
from support.recording_sink import RecordingSink
from support.scratch_database import scratch_database
from support.server_process import ServerLauncher, ServerProcess
from support.waiting import wait_until
from support.webhook_recipients import create_webhook_recipient

PROCESSES = 2
BATCH = 60


def children_of(pid: int) -> set[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children if _alive(int(child))}


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


async def send_batch(server: ServerProcess, prefix: str) -> SendOutcomes:
    outcomes = SendOutcomes()
    requests = numbered_requests(prefix, BATCH, brief_example_feedback(), ["acme"])
    await send_all(server.feedback, requests, 8, outcomes)
    assert not outcomes.failed, outcomes.failed
    return outcomes


async def test_children_deliver_and_one_killed_is_started_again_with_nothing_lost(
    postgres: PostgresCluster, signing_secret: str
) -> None:
    async with (
        scratch_database(postgres) as database_url,
        RecordingSink() as sink,
        ServerLauncher(database_url, delivery_processes=PROCESSES, lease_seconds=3) as servers,
    ):
        serve = await servers.start()
        await create_webhook_recipient(serve, "acme", sink.url(), signing_secret)
        assert await wait_until(lambda: len(children_of(serve.pid)) == PROCESSES, 30)
        first_children = children_of(serve.pid)

        first = await send_batch(serve, "first")
        assert await wait_for_succeeded(database_url, BATCH, timeout=60)
        os.kill(min(first_children), 9)
        assert await wait_until(
            lambda: (
                len(children_of(serve.pid)) == PROCESSES
                and children_of(serve.pid) != first_children
            ),
            30,
        ), serve.log()
        second = await send_batch(serve, "second")
        assert await wait_for_succeeded(database_url, 2 * BATCH, timeout=60), serve.log()

        every_delivery = first.delivery_ids() | second.delivery_ids()
        assert sink.received() == every_delivery
        workers = {a.worker_id.rsplit(":", 1)[1] for a in await attempts(database_url)}
        assert str(serve.pid) not in workers  # serve itself only accepts
        assert "starting it again" in serve.log()


async def test_children_stop_with_serve_on_sigterm_and_when_serve_is_killed(
    postgres: PostgresCluster,
) -> None:
    async with (
        scratch_database(postgres) as database_url,
        ServerLauncher(database_url, delivery_processes=PROCESSES) as servers,
    ):
        stopped = await servers.start()
        assert await wait_until(lambda: len(children_of(stopped.pid)) == PROCESSES, 30)
        children = children_of(stopped.pid)
        assert await stopped.terminate(timeout=30) == 0
        assert not {c for c in children if _alive(c)}

        killed = await servers.start()
        assert await wait_until(lambda: len(children_of(killed.pid)) == PROCESSES, 30)
        orphans = children_of(killed.pid)
        await killed.kill()
        assert await wait_until(lambda: not {c for c in orphans if _alive(c)}, 30), orphans


async def test_by_default_serve_on_two_cpus_delivers_from_one_child_process(
    postgres: PostgresCluster, signing_secret: str
) -> None:
    assert len(os.sched_getaffinity(0)) >= 2, "this machine gives the tests two CPUs or more"
    async with (
        scratch_database(postgres) as database_url,
        RecordingSink() as sink,
        ServerLauncher(database_url, delivery_processes="auto") as servers,
    ):
        serve = await servers.start()
        await create_webhook_recipient(serve, "acme", sink.url(), signing_secret)
        assert await wait_until(lambda: len(children_of(serve.pid)) == 1, 30), serve.log()
        [child] = children_of(serve.pid)

        sent = await send_batch(serve, "default")
        assert await wait_for_succeeded(database_url, BATCH, timeout=60), serve.log()

        assert sink.received() == sent.delivery_ids()
        workers = {a.worker_id.rsplit(":", 1)[1] for a in await attempts(database_url)}
        assert workers == {str(child)}
