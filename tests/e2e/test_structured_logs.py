"""Logs as a log pipeline reads them: with BACKCHANNEL_LOG_FORMAT=json every line of
``backchannel serve`` is one JSON object; delivery failures are logged with the
recipient, delivery, trace and span ids, at most one line per recipient per interval
however often it fails; and no secret of the recipient reaches any line, even when the
receiver echoes it."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from backchannel_client.v1 import feedback_service_pb2, recipient_pb2, recipient_service_pb2
from support.brief_example import brief_example_feedback
from support.feedback_calls import list_all_events
from support.receiver import Received, WebhookReceiver
from support.server_process import ServerLauncher
from support.waiting import wait_until

TOKEN = "tok-0123456789-secret"
SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#: As many as open the circuit (its default threshold): every one is sent before it opens.
FAILURES = 5


def _echo_the_url(request: Received) -> web.StreamResponse:
    return web.Response(status=503, text=f"busy; you called {request.path}?token={TOKEN}")


def _json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


async def test_json_logs_name_each_failure_once_per_interval_and_hold_no_secret(
    database_url: str,
) -> None:
    receiver = WebhookReceiver(respond=_echo_the_url)
    await receiver.start()
    try:
        async with ServerLauncher(database_url, log_format="json", retry_schedule="0") as servers:
            server = await servers.start()
            recipient = recipient_pb2.Recipient(
                id="echoing",
                recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE,
                transport="webhook",
                format="json",
            )
            recipient.secret_settings.update(
                {"url": f"{receiver.url}?token={TOKEN}", "signing_secrets": SIGNING_SECRET}
            )
            await server.recipients.CreateRecipient(
                recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
            )
            for i in range(FAILURES):
                await server.feedback.SendFeedback(
                    feedback_service_pb2.SendFeedbackRequest(
                        request_id=f"echo-{i}",
                        feedback=brief_example_feedback(),
                        recipient_ids=["echoing"],
                    )
                )
            recorded = await wait_until(
                lambda: len(receiver.requests) >= FAILURES and "circuit opened" in server.log(),
                30,
            )
            assert recorded, server.log()
            events = await list_all_events(server, 'recipient_id = "echoing"')
    finally:
        await receiver.stop()

    output = server.log()
    lines = _json_lines(output)
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    failures = [line for line in lines if "failed (attempt" in line["message"]]
    assert len(failures) == 1, failures
    [failure] = failures
    [logged] = [e for e in events if e.delivery_id == failure["delivery_id"]]
    assert failure["level"] == "WARNING"
    assert failure["logger"] == "backchannel.delivery"
    assert failure["recipient_id"] == "echoing"
    assert (failure["trace_id"], failure["span_id"]) == (logged.trace_id, logged.span_id)
    assert "busy" in failure["message"]
    [opened] = [line for line in lines if "circuit opened" in line["message"]]
    assert opened["recipient_id"] == "echoing"
    assert TOKEN not in output and SIGNING_SECRET not in output
    assert SIGNING_SECRET.removeprefix("whsec_") not in output
