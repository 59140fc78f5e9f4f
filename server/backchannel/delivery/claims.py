"""Claiming due deliveries: the admission-free lane in one statement, then, only when some
recipient has limits or a circuit that is not closed, a transaction that admits what the
recipients' circuits and limits let through (``admission``) and postpones the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from backchannel.delivery.admission import (
    RECHECK,
    CircuitVerdict,
    circuit_admission,
    limited_room,
    probe_prefers_retry,
)
from backchannel.model import ClaimedDelivery
from backchannel.store.deliveries import (
    AdmissionClaim,
    Candidate,
    RecipientRevisions,
    admission_claim,
    claim_admission_free,
)


@dataclass(frozen=True)
class ClaimBatch:
    deliveries: list[ClaimedDelivery]
    #: Candidates were held back (limits, circuit); the earliest is due again in this many
    #: seconds. None when none were.
    recheck_after: float | None


async def claim_due_deliveries(
    pool: asyncpg.Pool,
    limit: int,
    lease_seconds: float,
    retry_limit: int,
    recipients: RecipientRevisions,
    busy_recipients: Sequence[str] = (),
) -> ClaimBatch:
    """Claims up to ``limit`` due deliveries, at most ``retry_limit`` of them retries,
    none for ``busy_recipients``."""
    free = await claim_admission_free(
        pool, limit, lease_seconds, retry_limit, recipients, busy_recipients
    )
    if not free.needs_admission or len(free.deliveries) >= limit:
        return ClaimBatch(free.deliveries, None)
    retries = sum(1 for d in free.deliveries if d.attempt > 1)
    async with admission_claim(pool) as claim:
        admitted = await _claim_with_admission(
            claim,
            limit - len(free.deliveries),
            lease_seconds,
            retry_limit - retries,
            recipients,
            busy_recipients,
        )
    return ClaimBatch(free.deliveries + admitted.deliveries, admitted.recheck_after)


async def _claim_with_admission(
    claim: AdmissionClaim,
    limit: int,
    lease_seconds: float,
    retry_limit: int,
    recipients: RecipientRevisions,
    busy_recipients: Sequence[str],
) -> ClaimBatch:
    candidates = await claim.candidates(limit, retry_limit, busy_recipients)
    if not candidates:
        return ClaimBatch([], None)
    admitted, postponed = await _admit(claim, candidates, lease_seconds)
    recheck_after = None
    if postponed:
        await claim.postpone(postponed)
        earliest = min(t for _, t in postponed)
        recheck_after = max(0.0, (earliest - claim.now).total_seconds())
    if not admitted:
        return ClaimBatch([], recheck_after)
    deliveries = await claim.mark_claimed(admitted, lease_seconds, recipients)
    return ClaimBatch(deliveries, recheck_after)


async def _admit(
    claim: AdmissionClaim, candidates: Sequence[Candidate], lease_seconds: float
) -> tuple[list[str], list[tuple[str, datetime]]]:
    """The candidates admitted now, and the others with when they are due again."""
    now = claim.now
    by_recipient: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_recipient.setdefault(candidate.recipient_id, []).append(candidate)
    admitted: list[str] = []
    postponed: list[tuple[str, datetime]] = []
    for recipient_id, waiting in by_recipient.items():
        ids = [c.delivery_id for c in waiting]
        first = waiting[0]
        circuit = circuit_admission(first.circuit_state, first.open_until, now)
        if circuit.verdict is CircuitVerdict.WAIT:
            assert circuit.wait_until is not None
            postponed += [(i, circuit.wait_until) for i in ids]
            continue
        if circuit.verdict is CircuitVerdict.PROBE:
            # One probe goes; the rest wait for its outcome.
            probe = None
            if await claim.start_circuit_probe(
                recipient_id, now + timedelta(seconds=lease_seconds)
            ):
                probe = await claim.probe_delivery(
                    recipient_id, probe_prefers_retry(first.open_count)
                )
            postponed += [(i, now + RECHECK) for i in ids if i != probe]
            if probe is not None:
                admitted.append(probe)
            continue
        limits = first.limits
        if limits.max_per_second > 0 or limits.max_concurrency > 0:
            bucket = await claim.lock_token_bucket(recipient_id, limits.bucket_size)
            in_flight = (
                await claim.count_in_flight(recipient_id) if limits.max_concurrency > 0 else 0
            )
            decision = limited_room(limits, bucket, in_flight, len(ids), now)
            if decision.bucket is not None:
                await claim.save_token_bucket(recipient_id, decision.bucket)
            admitted += ids[: decision.room]
            postponed += [(i, now + decision.wait) for i in ids[decision.room :]]
            continue
        admitted += ids
    return admitted, postponed
