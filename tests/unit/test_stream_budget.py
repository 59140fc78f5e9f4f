"""StreamBudget: stream messages get turns while accepting is unhurt, fewer as soon as
accepts take longer than their baseline, and waiting writers go oldest first."""

from __future__ import annotations

import asyncio

from backchannel.api import stream_budget
from backchannel.api.stream_budget import StreamBudget


async def test_writers_within_the_allowance_go_at_once_and_the_rest_wait_in_order() -> None:
    budget = StreamBudget(slice_seconds=0.02, initial=2)
    order: list[int] = []

    async def write(index: int) -> None:
        await budget.turn()
        order.append(index)

    budget.start()
    try:
        writers = [asyncio.create_task(write(i)) for i in range(6)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert order == [0, 1]  # the first slice's allowance
        await asyncio.wait_for(asyncio.gather(*writers), 2.0)
        assert order == list(range(6))
    finally:
        await budget.stop()


async def test_accepts_slowing_down_halve_the_allowance_and_steady_ones_let_it_grow() -> None:
    budget = StreamBudget(slice_seconds=0.001, target_lag_seconds=1.0, initial=64)
    period = stream_budget._ACCEPT_PERIOD_SLICES * 0.001
    budget.start()
    try:
        # A baseline: accepts taking 10 ms.
        for _ in range(3):
            budget.accepted(0.010)
            await asyncio.sleep(period * 1.5)
        grown = budget.allowance
        assert grown > 64
        # Accepts now take twice as long: the streams' share must fall.
        for _ in range(4):
            budget.accepted(0.020)
            await asyncio.sleep(period * 1.2)
        assert budget.allowance < grown / 2
    finally:
        await budget.stop()


async def test_with_nothing_accepted_only_the_loops_lag_limits_streams() -> None:
    budget = StreamBudget(slice_seconds=0.001, target_lag_seconds=1.0, initial=8)
    budget.start()
    try:
        await asyncio.sleep(0.2)
        assert budget.allowance > 100
    finally:
        await budget.stop()
