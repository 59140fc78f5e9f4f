"""OpenTelemetry metrics, as an observability backend receives them: ``backchannel serve``
exports over OTLP/gRPC to a real OTLP metrics service on loopback, and the test reads
what arrived (cumulative totals, the OTLP exporter's default)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web
from backchannel_client.v1 import feedback_service_pb2, recipient_pb2
from support.brief_example import brief_example_feedback
from support.otlp_collector import OtlpCollector, attributes_of, grpc_collector
from support.receiver import Received, WebhookReceiver
from support.server_process import ServerLauncher, ServerProcess
from support.waiting import wait_until
from support.webhook_recipients import create_webhook_recipient

from backchannel.metrics import DURATION_BUCKETS

#: Milliseconds between exports in these tests (OpenTelemetry's default is a minute).
EXPORT_INTERVAL_MS = 200
#: Longest wait for the exported figures to show what the test did.
SETTLE_TIMEOUT = 60.0

DURATION = "backchannel.delivery.attempt.duration"


@pytest.fixture
async def collector(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[OtlpCollector, str]]:
    """The collector and its endpoint; servers started meanwhile export every
    EXPORT_INTERVAL_MS (they inherit the environment)."""
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", str(EXPORT_INTERVAL_MS))
    async with grpc_collector() as service:
        yield service, service.endpoint


def _answer_by_path(received: Received) -> web.StreamResponse:
    return web.Response(status=503 if received.path == "/unavailable" else 204)


async def _recorded_latency_us(database_url: str, recipient_id: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        total: int = await connection.fetchval(
            "SELECT sum(latency_us)::bigint FROM feedback_events WHERE recipient_id = $1",
            recipient_id,
        )
    finally:
        await connection.close()
    return total


async def _send(server: ServerProcess, request_id: str, recipient_id: str) -> None:
    await server.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id=request_id, feedback=brief_example_feedback(), recipient_ids=[recipient_id]
        )
    )


async def test_serve_exports_stored_feedback_attempts_open_deliveries_and_streams_over_otlp(
    database_url: str,
    signing_secret: str,
    collector: tuple[OtlpCollector, str],
) -> None:
    metrics, endpoint = collector
    receiver = WebhookReceiver(respond=_answer_by_path)
    await receiver.start()
    try:
        async with ServerLauncher(
            database_url, otel_exporter="otlp", otel_endpoint=endpoint
        ) as servers:
            server = await servers.start()
            base = f"http://127.0.0.1:{receiver.port}"
            await create_webhook_recipient(server, "acme", f"{base}/ok", signing_secret)
            await create_webhook_recipient(server, "down", f"{base}/unavailable", signing_secret)
            await create_webhook_recipient(
                server, "paused", f"{base}/ok", signing_secret,
                state=recipient_pb2.RECIPIENT_STATE_PAUSED,
            )  # fmt: skip
            for i in range(3):
                await _send(server, f"ok-{i}", "acme")
            await _send(server, "ok-0", "acme")  # a repeat stores nothing
            await _send(server, "down-0", "down")
            await _send(server, "held-0", "paused")
            stream = server.feedback.StreamFeedbackEvents(
                feedback_service_pb2.StreamFeedbackEventsRequest(from_beginning=True)
            )
            await stream.read()

            shown = await wait_until(
                lambda: (
                    metrics.value("backchannel.delivery.attempts", **{"recipient.id": "acme"}) == 3
                    and metrics.value("backchannel.delivery.attempts", **{"recipient.id": "down"})
                    >= 1
                    and metrics.value("backchannel.event_streams.open") == 1
                    and metrics.value("backchannel.deliveries.open", **{"delivery.state": "held"})
                    == 1
                ),
                SETTLE_TIMEOUT,
            )
            assert shown, f"exported: {metrics.all_points()}\n{server.log()}"
            stream.cancel()
            closed = await wait_until(
                lambda: metrics.value("backchannel.event_streams.open") == 0, SETTLE_TIMEOUT
            )
    finally:
        await receiver.stop()

    assert closed, "the closed stream is still counted as open"
    assert list(metrics.resources) == [metrics.instance_of(server.pid)]
    assert metrics.resources[metrics.instance_of(server.pid)]["service.name"] == "backchannel"
    assert metrics.points("backchannel.feedback.stored") == {
        frozenset({("backchannel.feedback.kind", "conversion")}): 5
    }
    attempts = metrics.points("backchannel.delivery.attempts")
    acme = frozenset(
        {
            ("backchannel.recipient.id", "acme"),
            ("backchannel.recipient.type", "source"),
            ("backchannel.transport", "webhook"),
            ("backchannel.processing_status", "succeeded"),
        }
    )
    assert attempts[acme] == 3
    down = {
        status: count
        for key, count in attempts.items()
        if ("backchannel.recipient.id", "down") in key
        for name, status in key
        if name == "backchannel.processing_status"
    }
    assert down.get("retry_scheduled", 0) >= 1 and "succeeded" not in down, down
    durations = metrics.points(DURATION)
    assert durations[acme] == 3
    duration = metrics.latest[(metrics.instance_of(server.pid), DURATION)]
    assert duration.unit == "s"
    [point] = [
        p
        for p in duration.histogram.data_points
        if frozenset(attributes_of(p.attributes).items()) == acme
    ]
    assert tuple(point.explicit_bounds) == DURATION_BUCKETS
    recorded_us = await _recorded_latency_us(database_url, "acme")
    assert point.sum == pytest.approx(recorded_us / 1_000_000)  # the events' latencies, in s
    open_deliveries = metrics.points("backchannel.deliveries.open")
    state, due = "backchannel.delivery.state", "backchannel.delivery.due"
    assert set(open_deliveries) == {
        frozenset({(state, "pending"), (due, True)}),
        frozenset({(state, "pending"), (due, False)}),
        frozenset({(state, "in_flight")}),
        frozenset({(state, "held")}),
    }
    assert open_deliveries[frozenset({(state, "held")})] == 1


async def test_with_no_exporter_nothing_is_exported(
    database_url: str,
    signing_secret: str,
    collector: tuple[OtlpCollector, str],
    receiver: WebhookReceiver,
) -> None:
    metrics, endpoint = collector
    launcher = ServerLauncher(database_url, otel_exporter="none", otel_endpoint=endpoint)
    async with launcher as servers:
        server = await servers.start()
        await create_webhook_recipient(server, "acme", receiver.url, signing_secret)
        await _send(server, "quiet-0", "acme")
        await receiver.wait_for(1)
        await asyncio.sleep(EXPORT_INTERVAL_MS * 5 / 1000)  # several intervals go by

    assert metrics.exports == 0


async def test_delivery_processes_export_their_own_attempts_beside_serve(
    database_url: str,
    signing_secret: str,
    collector: tuple[OtlpCollector, str],
    receiver: WebhookReceiver,
) -> None:
    metrics, endpoint = collector
    launcher = ServerLauncher(
        database_url, otel_exporter="otlp", otel_endpoint=endpoint, delivery_processes=1
    )
    async with launcher as servers:
        server = await servers.start()
        await create_webhook_recipient(server, "acme", receiver.url, signing_secret)
        for i in range(3):
            await _send(server, f"child-{i}", "acme")
        shown = await wait_until(
            lambda: (
                metrics.value("backchannel.delivery.attempts") == 3 and len(metrics.resources) == 2
            ),
            SETTLE_TIMEOUT,
        )
        assert shown, f"exported: {metrics.all_points()} by {list(metrics.resources)}"

    serving = metrics.instance_of(server.pid)
    [child] = [i for i in metrics.resources if i != serving]
    assert metrics.points("backchannel.delivery.attempts", child) != {}
    assert metrics.points("backchannel.delivery.attempts", serving) == {}
    assert sum(metrics.points("backchannel.feedback.stored", serving).values()) == 3


async def test_an_open_circuit_shows_in_its_recipients_gauge(
    database_url: str,
    signing_secret: str,
    collector: tuple[OtlpCollector, str],
) -> None:
    metrics, endpoint = collector
    receiver = WebhookReceiver(respond=lambda _request: web.Response(status=500))
    await receiver.start()
    try:
        launcher = ServerLauncher(
            database_url, otel_exporter="otlp", otel_endpoint=endpoint, retry_schedule="0"
        )
        async with launcher as servers:
            server = await servers.start()
            await create_webhook_recipient(server, "down", receiver.url, signing_secret)
            await create_webhook_recipient(server, "calm", receiver.url, signing_secret)
            for i in range(5):  # the default threshold of consecutive failures
                await _send(server, f"down-{i}", "down")
            opened = await wait_until(lambda: _circuit(metrics, "down") == 2, SETTLE_TIMEOUT)
    finally:
        await receiver.stop()

    assert opened, f"exported: {metrics.all_points()}\n{server.log()}"
    assert _circuit(metrics, "calm") == 0


async def test_queue_lag_is_how_long_the_oldest_due_delivery_has_waited(
    database_url: str,
    signing_secret: str,
    collector: tuple[OtlpCollector, str],
    receiver: WebhookReceiver,
) -> None:
    metrics, endpoint = collector
    launcher = ServerLauncher(
        database_url, otel_exporter="otlp", otel_endpoint=endpoint, dispatcher_enabled="false"
    )
    async with launcher as servers:
        server = await servers.start()
        await create_webhook_recipient(server, "acme", receiver.url, signing_secret)
        shown_idle = await wait_until(
            lambda: bool(metrics.points("backchannel.deliveries.queue_lag")), SETTLE_TIMEOUT
        )
        idle = metrics.value("backchannel.deliveries.queue_lag")
        started = asyncio.get_running_loop().time()
        await _send(server, "waiting-0", "acme")  # accepted, never delivered here
        lagging = await wait_until(
            lambda: metrics.value("backchannel.deliveries.queue_lag") >= 1.0, SETTLE_TIMEOUT
        )
        waited = asyncio.get_running_loop().time() - started
        lag = metrics.value("backchannel.deliveries.queue_lag")

    assert shown_idle and idle == 0
    assert lagging, f"exported: {metrics.all_points()}"
    assert lag <= waited + 1.0  # no older than the delivery itself (export timing aside)


def _circuit(metrics: OtlpCollector, recipient_id: str) -> float:
    return metrics.value("backchannel.recipient.circuit_state", **{"recipient.id": recipient_id})
