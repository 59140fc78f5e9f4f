"""One broken recipient never slows the healthy ones: a recipient that accepts requests
and never answers (each attempt would end only in the server's outbound timeout) must
not hold up deliveries to a recipient that answers at once.

The stalled requests are still open when the healthy deliveries are checked, so the
outcome does not depend on how fast anything runs, only on whether the healthy requests
can go out at all while the stalled ones hang.
"""

from __future__ import annotations

from collections import Counter

from support.brief_example import brief_example_feedback
from support.feedback_load import SendOutcomes, numbered_requests, send_all
from support.outbox_state import deliveries
from support.postgres_cluster import PostgresCluster
from support.recording_sink import Behaviour, RecordingSink
from support.scratch_database import scratch_database
from support.server_process import ServerLauncher
from support.waiting import wait_until
from support.webhook_recipients import create_webhook_recipient

#: Feedback for the recipient that never answers: fewer than the server sends at once
#: (BACKCHANNEL_DELIVERY_CONCURRENCY, 256 by default), so all are in flight together.
STALLED_COUNT = 110
HEALTHY_COUNT = 10
#: The stalled recipient holds each request longer than the test lasts, and the server
#: would give up on it after this long (so no attempt ends while the test looks).
STALL_SECONDS = 120.0
OUTBOUND_TIMEOUT_SECONDS = 90
#: Attempts one recipient may have in flight per process (BACKCHANNEL_RECIPIENT_CONCURRENCY).
RECIPIENT_CONCURRENCY = 32


async def test_a_recipient_that_never_answers_does_not_hold_up_deliveries_to_healthy_ones(
    postgres: PostgresCluster, signing_secret: str
) -> None:
    async with (
        scratch_database(postgres) as database_url,
        RecordingSink() as sink,
        ServerLauncher(
            database_url,
            outbound_timeout_seconds=OUTBOUND_TIMEOUT_SECONDS,
            recipient_concurrency=RECIPIENT_CONCURRENCY,
        ) as servers,
    ):
        sink.by_path["/stalled"] = Behaviour(delay=STALL_SECONDS)
        server = await servers.start()
        for name in ("stalled", "healthy"):
            await create_webhook_recipient(server, name, sink.url(f"/{name}"), signing_secret)
        feedback = brief_example_feedback()
        outcomes = SendOutcomes()
        await send_all(
            server.feedback,
            numbered_requests("stalled", STALLED_COUNT, feedback, ["stalled"]),
            16,
            outcomes,
        )
        # The stalled recipient holds every slot the server lets one recipient have.
        stalled_in_flight = await wait_until(
            lambda: len(sink.arrivals) >= RECIPIENT_CONCURRENCY, timeout=30
        )
        assert stalled_in_flight, f"only {len(sink.arrivals)} stalled requests arrived"

        healthy = SendOutcomes()
        await send_all(
            server.feedback,
            numbered_requests("healthy", HEALTHY_COUNT, feedback, ["healthy"]),
            4,
            healthy,
        )
        assert not outcomes.failed and not healthy.failed
        all_arrived = await wait_until(
            lambda: healthy.delivery_ids() <= sink.received(), timeout=20
        )
        by_path = Counter(a.path for a in sink.arrivals)
        states = Counter(
            row.state
            for row in (await deliveries(database_url)).values()
            if row.recipient_id == "healthy"
        )
        assert all_arrived, (
            f"{by_path['/healthy']} of {HEALTHY_COUNT} healthy deliveries arrived while "
            f"{by_path['/stalled']} requests to the stalled recipient hung; healthy "
            f"deliveries stand {dict(states)}"
        )
