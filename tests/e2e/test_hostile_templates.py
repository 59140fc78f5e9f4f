"""A recipient's template cannot freeze the server: templates are checked when a recipient
is saved and rendered at send time in worker processes with a time budget, never on the
event loop. While a hostile template runs, health checks answer within 100 ms; a hostile
save is refused, a hostile send fails without retrying with a clear excerpt while other
recipients' deliveries go on, and the worker pool recovers for the next render. The known
amplifiers (lipsum, large range loops...) are refused outright when saved.

The hostile template here is one no static check refuses: two nested loops over text,
of thousands of characters, writing nothing (tens of millions of steps, past the budget)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import grpc
import pytest
from backchannel_client.v1 import (
    event_pb2,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.brief_example import brief_example_feedback
from support.feedback_calls import wait_for_event
from support.in_process_server import RunningServer, serving
from support.receiver import WebhookReceiver
from support.rpc_errors import rich_error
from support.webhook_recipients import create_webhook_recipient

T = TypeVar("T")
SLOW_ON_SAMPLES = (
    '{% set s = "' + "x" * 8000 + '" %}'
    "{% for a in s %}{% for b in s %}{% if a != b %}!{% endif %}{% endfor %}{% endfor %}"
)
#: Quick on the sample documents (no attributes.big), slow on a feedback carrying it.
SLOW_ON_REAL_DATA = (
    "{% set s = (attributes.big or []) | join %}"
    "{% for a in s %}{% for b in s %}{% if a != b %}!{% endif %}{% endfor %}{% endfor %}done"
)
HEALTH_LIMIT = 0.1


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[RunningServer]:
    async with serving(database_url, template_timeout_seconds=1.5) as running:
        yield running


async def slowest_health_check_while(running: RunningServer, work: Awaitable[T]) -> tuple[float, T]:
    """Runs ``work`` while checking health every 20 ms on a channel of its own; the
    slowest health answer, and what ``work`` returned."""
    async with grpc.aio.insecure_channel(running.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        await health.Check(health_pb2.HealthCheckRequest())
        task = asyncio.ensure_future(work)
        slowest = 0.0
        while not task.done():
            started = time.perf_counter()
            await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            slowest = max(slowest, time.perf_counter() - started)
            await asyncio.sleep(0.02)
        return slowest, await task


def template_recipient(recipient_id: str, url: str, template: str) -> recipient_pb2.Recipient:
    recipient = recipient_pb2.Recipient(
        id=recipient_id,
        recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE,
        transport="webhook",
        format="template",
    )
    recipient.transport_settings.update({"url": url})
    recipient.format_options.update({"template": template})
    return recipient


async def create(running: RunningServer, recipient: recipient_pb2.Recipient) -> Any:
    try:
        return await running.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient), timeout=30
        )
    except grpc.aio.AioRpcError as error:
        return error


async def test_a_hostile_template_saved_is_refused_while_health_answers_at_once(
    server: RunningServer, receiver: WebhookReceiver
) -> None:
    # The worker processes start on first use: that is not what is measured here.
    warm_up = template_recipient("warm-up", receiver.url, "{{ kind }}")
    assert not isinstance(await create(server, warm_up), grpc.aio.AioRpcError)
    recipient = template_recipient("hostile", receiver.url, SLOW_ON_SAMPLES)

    slowest, answer = await slowest_health_check_while(server, create(server, recipient))

    assert isinstance(answer, grpc.aio.AioRpcError)
    error = rich_error(answer)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = error.bad_request.field_violations  # type: ignore[union-attr]
    assert violation.field == "recipient.format_options"
    assert "took longer than 1.5 s" in violation.description
    assert slowest < HEALTH_LIMIT, f"a health check took {slowest * 1000:.0f} ms"
    # The pool recovered: the next check of a fine template passes.
    fine = template_recipient("fine", receiver.url, "{{ lead_id }}")
    assert not isinstance(await create(server, fine), grpc.aio.AioRpcError)


@pytest.mark.parametrize(
    "template",
    [
        "{{ lipsum(n=20000) }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{{ 9 ** 9 ** 9 }}",
        '{{ "x" * 1000000000 }}',
        "{% macro m(n) %}{{ m(n) }}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    ],
    ids=["lipsum", "nested-range", "power", "multiply", "macro"],
)
async def test_a_known_amplifier_is_refused_when_saved(
    server: RunningServer, receiver: WebhookReceiver, template: str
) -> None:
    answer = await create(server, template_recipient("amplifier", receiver.url, template))

    assert isinstance(answer, grpc.aio.AioRpcError)
    error = rich_error(answer)
    assert error.violated_fields == ["recipient.format_options.template"]
    assert "is refused" in error.bad_request.field_violations[0].description  # type: ignore[union-attr]


async def send(
    running: RunningServer, request_id: str, recipient_ids: list[str], big: list[str]
) -> str:
    feedback = brief_example_feedback()
    feedback.attributes.update({"big": big})
    answer = await running.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id=request_id, feedback=feedback, recipient_ids=recipient_ids
        )
    )
    feedback_id: str = answer.feedback.id
    return feedback_id


async def test_a_hostile_send_fails_without_retrying_while_others_flow_and_health_answers(
    server: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    assert not isinstance(
        await create(server, template_recipient("slow", receiver.url, SLOW_ON_REAL_DATA)),
        grpc.aio.AioRpcError,
    )
    await create_webhook_recipient(server, "plain", receiver.url, signing_secret)

    async def hostile_and_plain() -> tuple[Any, list[Any]]:
        hostile = await send(server, "hostile-1", ["slow"], ["x" * 1000] * 20)
        plain = [await send(server, f"plain-{i}", ["plain"], ["y"]) for i in range(5)]
        delivered = [await wait_for_event(server, p, timeout=15) for p in plain]
        return await wait_for_event(server, hostile, timeout=30), delivered

    slowest, (event, delivered) = await slowest_health_check_while(server, hostile_and_plain())

    assert event.processing_status == event_pb2.PROCESSING_STATUS_FAILED
    assert "took longer than 1.5 s to render" in event.response_status.excerpt
    assert [e.processing_status for e in delivered] == [event_pb2.PROCESSING_STATUS_SUCCEEDED] * 5
    assert slowest < HEALTH_LIMIT, f"a health check took {slowest * 1000:.0f} ms"
    # The pool recovered: the same recipient renders the next feedback.
    after = await wait_for_event(server, await send(server, "after-1", ["slow"], ["z"]))
    assert after.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED
