"""SIGTERM with deliveries in flight: the server stops claiming, lets what can finish
within the grace period finish and records it, hands back what cannot (pending again,
the cut-off attempt not counted), and exits with code 0; a server started afterwards
delivers what was handed back.

The scenario runs once for the module; each test checks one promise of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from support.brief_example import brief_example_feedback
from support.feedback_load import SendOutcomes, numbered_requests, send_all
from support.outbox_state import DeliveryRow, deliveries, wait_for_succeeded
from support.postgres_cluster import PostgresCluster
from support.recording_sink import Behaviour, RecordingSink
from support.scratch_database import scratch_database
from support.server_process import ServerLauncher, ServerProcess
from support.waiting import wait_until
from support.webhook_recipients import create_webhook_recipient

GRACE_SECONDS = 3
#: How much longer than the grace period the process may take to exit before the test
#: gives up on it (it is then killed, and the exit code is None).
EXIT_MARGIN_SECONDS = 10
#: Two recipients: one answers well within the grace period, one long after it.
PROMPT_SECONDS = 1.0
STALLED_SECONDS = 30.0
PER_RECIPIENT = 10


@dataclass
class Shutdown:
    exit_code: int | None
    #: Delivery states right after the exit, by recipient.
    at_exit: dict[str, list[DeliveryRow]]
    drained_by_next: bool
    final: dict[str, DeliveryRow]
    sink: RecordingSink
    stopped: ServerProcess


@pytest.fixture(scope="module")
async def shutdown(postgres: PostgresCluster, signing_secret: str) -> AsyncIterator[Shutdown]:
    async with (
        scratch_database(postgres) as database_url,
        RecordingSink() as sink,
        ServerLauncher(database_url, shutdown_grace_seconds=GRACE_SECONDS) as servers,
    ):
        sink.by_path["/prompt"] = Behaviour(delay=PROMPT_SECONDS)
        sink.by_path["/stalled"] = Behaviour(delay=STALLED_SECONDS)
        first = await servers.start()
        for name in ("prompt", "stalled"):
            await create_webhook_recipient(first, name, sink.url(f"/{name}"), signing_secret)
        requests = [
            *numbered_requests("prompt", PER_RECIPIENT, brief_example_feedback(), ["prompt"]),
            *numbered_requests("stalled", PER_RECIPIENT, brief_example_feedback(), ["stalled"]),
        ]
        outcomes = SendOutcomes()
        await send_all(first.feedback, requests, 8, outcomes)
        assert not outcomes.failed, f"sends failed: {Counter(outcomes.failed.values())}"
        all_in_flight = await wait_until(lambda: len(sink.arrivals) >= len(requests), timeout=30)
        assert all_in_flight, f"only {len(sink.arrivals)} deliveries reached the sink"
        exit_code = await first.terminate(timeout=GRACE_SECONDS + EXIT_MARGIN_SECONDS)
        rows = await deliveries(database_url)
        sink.by_path.clear()  # the next server finds both recipients answering at once

        await servers.start()
        drained_by_next = await wait_for_succeeded(database_url, len(requests), timeout=30)
        by_recipient: dict[str, list[DeliveryRow]] = {}
        for row in rows.values():
            by_recipient.setdefault(row.recipient_id, []).append(row)
        yield Shutdown(
            exit_code=exit_code,
            at_exit=by_recipient,
            drained_by_next=drained_by_next,
            final=await deliveries(database_url),
            sink=sink,
            stopped=first,
        )


async def test_sigterm_exits_with_code_0_within_the_grace_period_and_a_margin(
    shutdown: Shutdown,
) -> None:
    assert shutdown.exit_code == 0, shutdown.stopped.log()


async def test_attempts_that_finish_within_the_grace_period_are_recorded(
    shutdown: Shutdown,
) -> None:
    states = Counter(row.state for row in shutdown.at_exit["prompt"])
    assert states == {"succeeded": PER_RECIPIENT}, shutdown.stopped.log()


async def test_attempts_cut_off_by_shutdown_are_handed_back_pending_and_not_counted(
    shutdown: Shutdown,
) -> None:
    rows = shutdown.at_exit["stalled"]
    assert Counter(row.state for row in rows) == {"pending": PER_RECIPIENT}, shutdown.stopped.log()
    assert [row for row in rows if row.leased or row.attempt_count != 0] == []


async def test_a_server_started_after_the_shutdown_delivers_what_was_handed_back(
    shutdown: Shutdown,
) -> None:
    assert shutdown.drained_by_next
    assert Counter(row.state for row in shutdown.final.values()) == {"succeeded": 2 * PER_RECIPIENT}
    handed_back = {row.id for row in shutdown.at_exit["stalled"]}
    assert all(shutdown.sink.counts[i] == 2 for i in handed_back)
