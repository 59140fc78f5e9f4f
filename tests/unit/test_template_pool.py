"""The template workers a transport renders through (``TransportContext.render_template``):
a render past its time budget is stopped and its worker replaced, output past the cap is
refused, and the event loop goes on meanwhile. Real worker processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from backchannel import template_pool
from backchannel.plugin import TemplateFailed, TransportContext

SLOW = (
    "{% set s = (big or []) | join %}"
    "{% for a in s %}{% for b in s %}{% if a != b %}!{% endif %}{% endfor %}{% endfor %}"
)


@pytest.fixture
def pool() -> Iterator[None]:
    template_pool.configure(
        template_pool.TemplateBudget(workers=1, seconds=1.0, max_output_bytes=1000)
    )
    try:
        yield
    finally:
        template_pool.close()
        template_pool.configure(template_pool.TemplateBudget())


async def test_a_render_past_its_budget_is_stopped_and_the_loop_goes_on(pool: None) -> None:
    context = TransportContext()
    assert await context.render_template("{{ kind }}", {"kind": "warm"}) == "warm"
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(tick())
    started = time.perf_counter()
    with pytest.raises(TemplateFailed, match="took longer than 1 s"):
        await context.render_template(SLOW, {"big": ["x" * 1000] * 10})
    ticking.cancel()

    assert time.perf_counter() - started < 5
    assert ticks > 30, "the event loop was held while the template ran"
    # The worker was replaced: the next render works.
    assert await context.render_template("{{ kind }}", {"kind": "again"}) == "again"


async def test_output_past_the_cap_is_refused(pool: None) -> None:
    with pytest.raises(TemplateFailed, match="longer than 1000 characters"):
        await TransportContext().render_template(
            "{% for c in s %}{{ s }}{% endfor %}", {"s": "y" * 100}
        )


async def test_a_failing_template_says_why_without_its_values(pool: None) -> None:
    with pytest.raises(TemplateFailed, match="uses a name the document does not have") as failure:
        await TransportContext().render_template("{{ secret }}{{ missing }}", {"secret": "s3cr3t"})
    assert "s3cr3t" not in str(failure.value)
