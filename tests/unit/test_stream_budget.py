"""StreamBudget: stream messages get turns while accepting is unhurt, fewer as soon as
accepts take longer than their baseline or the loop runs late, and waiting writers go
oldest first. Slices are ended by the test (``end_slice``), not by a clock."""

from __future__ import annotations

import asyncio

from backchannel.api.stream_budget import _ACCEPT_PERIOD_SLICES, StreamBudget


def period(budget: StreamBudget, accept_seconds: float | None, lag: float = 0.0) -> None:
    """One accept period: one accept taking ``accept_seconds`` (None: no accepts)."""
    if accept_seconds is not None:
        budget.accepted(accept_seconds)
    for _ in range(_ACCEPT_PERIOD_SLICES):
        budget.end_slice(lag)


async def test_writers_within_the_allowance_go_at_once_and_the_rest_wait_in_order() -> None:
    budget = StreamBudget(initial=2)
    order: list[int] = []

    async def write(index: int) -> None:
        await budget.turn()
        order.append(index)

    writers = [asyncio.create_task(write(i)) for i in range(6)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert order == [0, 1]  # the first slice's allowance
    while len(order) < 6:
        budget.end_slice(0.0)
        for _ in range(3):
            await asyncio.sleep(0)
    await asyncio.gather(*writers)
    assert order == list(range(6))


def test_accepts_slowing_down_halve_the_allowance_and_steady_ones_let_it_grow() -> None:
    budget = StreamBudget(initial=64)
    for _ in range(3):
        period(budget, 0.010)  # the baseline: accepts taking 10 ms
    steady = budget.allowance
    assert steady > 64
    period(budget, 0.020)  # twice as long: the streams' share falls
    assert budget.allowance <= steady // 2
    period(budget, 0.020)
    assert budget.allowance <= steady // 4
    period(budget, 0.0105)  # within 1.1x of the baseline again: it grows back
    assert budget.allowance > steady // 4


def test_a_late_loop_halves_the_allowance_every_slice() -> None:
    budget = StreamBudget(initial=64, target_lag_seconds=0.002)
    budget.end_slice(0.010)
    assert budget.allowance == 32
    budget.end_slice(0.010)
    assert budget.allowance == 16


def test_with_nothing_accepted_only_the_loops_lag_limits_streams() -> None:
    budget = StreamBudget(initial=8)
    period(budget, 0.010)
    period(budget, 0.050)  # hurt once...
    for _ in range(5):
        period(budget, None)  # ...then nothing accepted: no limit from accepting
    assert budget.allowance > 1000
