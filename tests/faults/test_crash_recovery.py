"""kill -9 of a server process while sends are arriving and over a thousand deliveries
are pending and some in flight, then a restart on the same database: nothing
acknowledged is lost, every delivery reaches the recipient, and the only duplicates are
redeliveries under the same webhook-id.

The scenario runs once for the module; each test checks one promise of it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from support.brief_example import brief_example_feedback
from support.feedback_load import (
    SendOutcomes,
    numbered_requests,
    resend_until_acknowledged,
    send_all,
)
from support.outbox_state import (
    DeliveryRow,
    deliveries,
    state_counts,
    stored_request_ids,
    wait_for_succeeded,
)
from support.postgres_cluster import PostgresCluster
from support.recording_sink import RecordingSink
from support.scratch_database import scratch_database
from support.server_process import ServerLauncher
from support.waiting import wait_until
from support.webhook_recipients import create_webhook_recipient

FEEDBACK_COUNT = 3000
SEND_CONCURRENCY = 32
#: Short, so deliveries the killed process held come back quickly.
LEASE_SECONDS = 3
#: The recipient takes this long per request, and the first server sends this many at
#: once: delivery (at most 400/s) falls behind accepting, so a backlog builds up. The
#: restarted server has the default concurrency, to drain it quickly.
SINK_DELAY = 0.02
DELIVERY_CONCURRENCY = 8
#: The kill comes once this many requests reached the recipient and this many
#: acknowledged feedback are still undelivered (pending or in flight), with sends still
#: to come.
KILL_AFTER_ARRIVALS = 300
KILL_AT_BACKLOG = 1000


@dataclass
class CrashScenario:
    #: Answers the killed process gave (OK ones are acknowledged) and, for the rest, the
    #: code its call failed with.
    answers_before_kill: SendOutcomes
    #: Delivery states, and request ids stored, right after the kill.
    states_at_kill: Counter[str]
    stored_at_kill: Counter[str]
    #: Whether every request was acknowledged in the end (re-sent to the restarted server).
    all_acknowledged: bool
    #: Whether every delivery succeeded before the deadline.
    drained: bool
    final: dict[str, DeliveryRow]
    stored_at_end: Counter[str]
    sink: RecordingSink
    restarted_log: str


@pytest.fixture(scope="module")
async def crash(postgres: PostgresCluster, signing_secret: str) -> AsyncIterator[CrashScenario]:
    async with (
        scratch_database(postgres) as database_url,
        RecordingSink(delay=SINK_DELAY) as sink,
        ServerLauncher(database_url, lease_seconds=LEASE_SECONDS) as servers,
    ):
        first = await servers.start(delivery_concurrency=DELIVERY_CONCURRENCY)
        await create_webhook_recipient(first, "acme", sink.url(), signing_secret)
        requests = numbered_requests("crash", FEEDBACK_COUNT, brief_example_feedback(), ["acme"])
        outcomes = SendOutcomes()
        sending = asyncio.create_task(
            send_all(first.feedback, requests, SEND_CONCURRENCY, outcomes)
        )
        mid_delivery = await wait_until(
            lambda: (
                len(sink.arrivals) >= KILL_AFTER_ARRIVALS
                and len(outcomes.acknowledged) - len(sink.received()) >= KILL_AT_BACKLOG
            ),
            timeout=25,
        )
        await first.kill()
        await sending
        answers_before_kill = SendOutcomes(dict(outcomes.acknowledged), dict(outcomes.failed))
        states_at_kill = await state_counts(database_url)
        assert mid_delivery, f"the load never reached the kill point:\n{first.log()}"
        assert states_at_kill["pending"] > 0 and states_at_kill["in_flight"] > 0, (
            f"the kill did not hit pending and in-flight deliveries: {states_at_kill}"
        )
        stored_at_kill = await stored_request_ids(database_url)

        second = await servers.start()
        all_acknowledged = await resend_until_acknowledged(
            second.feedback, requests, outcomes, timeout=45
        )
        drained = await wait_for_succeeded(database_url, FEEDBACK_COUNT, timeout=45)
        yield CrashScenario(
            answers_before_kill=answers_before_kill,
            states_at_kill=states_at_kill,
            stored_at_kill=stored_at_kill,
            all_acknowledged=all_acknowledged,
            drained=drained,
            final=await deliveries(database_url),
            stored_at_end=await stored_request_ids(database_url),
            sink=sink,
            restarted_log=second.log(),
        )


async def test_every_feedback_acknowledged_before_a_kill_9_is_already_stored(
    crash: CrashScenario,
) -> None:
    acknowledged = crash.answers_before_kill.acknowledged
    assert len(acknowledged) >= KILL_AT_BACKLOG
    lost = [i for i in acknowledged if i not in crash.stored_at_kill]
    assert lost == [], f"{len(lost)} acknowledged request ids are not stored, e.g. {lost[:5]}"
    missing = crash.answers_before_kill.delivery_ids() - set(crash.final)
    assert missing == set(), f"{len(missing)} acknowledged deliveries are not stored"


async def test_sends_cut_off_by_the_kill_are_stored_once_when_repeated_with_their_request_id(
    crash: CrashScenario,
) -> None:
    assert crash.answers_before_kill.failed, "no send was cut off by the kill"
    assert crash.all_acknowledged
    assert len(crash.stored_at_end) == FEEDBACK_COUNT
    assert max(crash.stored_at_end.values()) == 1


async def test_every_delivery_succeeds_after_the_restart(crash: CrashScenario) -> None:
    states = Counter(row.state for row in crash.final.values())
    assert crash.drained, f"not every delivery succeeded: {states}\n{crash.restarted_log}"
    assert states == {"succeeded": FEEDBACK_COUNT}


async def test_every_webhook_id_reaches_the_recipient_after_the_restart(
    crash: CrashScenario,
) -> None:
    never_received = set(crash.final) - crash.sink.received()
    assert never_received == set(), f"{len(never_received)} deliveries never reached the sink"
    unknown = crash.sink.received() - set(crash.final)
    assert unknown == set(), f"the sink got webhook-ids that are no delivery: {unknown}"


async def test_duplicates_after_a_kill_9_are_only_redeliveries_of_the_same_webhook_id(
    crash: CrashScenario,
) -> None:
    duplicates = crash.sink.duplicates()
    # Each arrival is an attempt the outbox counted: more arrivals than attempts of one
    # delivery would mean two claims of one attempt.
    over_counted = {
        i: (n, crash.final[i].attempt_count)
        for i, n in duplicates.items()
        if i in crash.final and n > crash.final[i].attempt_count
    }
    assert over_counted == {}, f"webhook-id: (arrivals, attempts) {over_counted}"
    bodies: dict[str, set[bytes]] = {}
    for arrival in crash.sink.arrivals:
        if arrival.webhook_id in duplicates:
            bodies.setdefault(arrival.webhook_id, set()).add(arrival.body)
    changed = [i for i, seen in bodies.items() if len(seen) > 1]
    assert changed == [], f"redeliveries of {changed[:5]} carried a different body"
