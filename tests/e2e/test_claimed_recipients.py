"""Claims name each delivery's recipient by id and revision; the dispatcher reads a
revision from the database once, shares its record between deliveries, reads a changed
recipient again, and finds recipients deleted after their deliveries were claimed."""

from __future__ import annotations

from typing import Any

import asyncpg
from support.due_deliveries import add_due_deliveries

from backchannel.delivery.claims import claim_due_deliveries
from backchannel.store.deliveries import RecipientRevisions
from backchannel.store.queries import execute, fetch, query


class CountingPool:
    """The real pool, counting how often each named statement runs through it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.counts: dict[str, int] = {}

    def ran(self, name: str) -> int:
        return self.counts.get(query(name).text, 0)

    async def fetch(self, statement: str, *args: Any) -> list[asyncpg.Record]:
        self.counts[statement] = self.counts.get(statement, 0) + 1
        return await self._pool.fetch(statement, *args)


async def claim(pool: CountingPool, revisions: RecipientRevisions) -> list[Any]:
    batch = await claim_due_deliveries(pool, 10, 30.0, 10, revisions)  # type: ignore[arg-type]
    return batch.deliveries


async def test_a_revision_is_read_once_and_its_record_shared(store_pool: asyncpg.Pool) -> None:
    counting, revisions = CountingPool(store_pool), RecipientRevisions()
    await add_due_deliveries(store_pool, "acme", 1, 2)
    first = await claim(counting, revisions)
    await add_due_deliveries(store_pool, "acme", 3, 1)
    second = await claim(counting, revisions)

    assert len(first) == 2 and len(second) == 1
    assert counting.ran("select_recipients_any_state") == 1
    assert first[0].recipient is first[1].recipient is second[0].recipient
    assert first[0].recipient.transport_settings == {"url": "http://127.0.0.1:9/one"}


async def test_a_changed_recipient_is_read_again(store_pool: asyncpg.Pool) -> None:
    counting, revisions = CountingPool(store_pool), RecipientRevisions()
    await add_due_deliveries(store_pool, "acme", 1, 1)
    [before] = await claim(counting, revisions)
    await store_pool.execute(
        'UPDATE recipients SET transport_settings = \'{"url": "http://127.0.0.1:9/two"}\','
        " revision = revision + 1 WHERE id = 'acme'"
    )
    await add_due_deliveries(store_pool, "acme", 2, 1)
    [after] = await claim(counting, revisions)

    assert counting.ran("select_recipients_any_state") == 2
    assert after.recipient.revision == before.recipient.revision + 1
    assert after.recipient.transport_settings == {"url": "http://127.0.0.1:9/two"}


async def test_a_recipient_deleted_after_the_claim_is_still_found(store_pool: asyncpg.Pool) -> None:
    revisions = RecipientRevisions()
    await add_due_deliveries(store_pool, "acme", 1, 1)
    claimed = await fetch(
        store_pool,
        "claim_admission_free",
        limit=10,
        busy_recipients=[],
        retry_limit=10,
        lease_seconds=30.0,
    )
    await execute(store_pool, "soft_delete_recipient", recipient_id="acme")

    records = await revisions.of_rows(store_pool, claimed)

    # Read after the delete: the claimed revision is gone, the recipient as it is now
    # stands in for it.
    [record] = records.values()
    assert record.id == "acme" and record.revision == claimed[0]["recipient_revision"] + 1
