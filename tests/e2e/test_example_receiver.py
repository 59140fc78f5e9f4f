"""examples/webhook_receiver.py, as the README's walkthrough runs it: it prints each body
exactly as it arrived (1250.00 stays 1250.00) and checks the signature of any body, JSON
or not."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backchannel_client.v1 import feedback_service_pb2
from support.brief_example import brief_example_feedback
from support.feedback_calls import wait_for_event
from support.in_process_server import RunningServer
from support.webhook_recipients import create_webhook_recipient

RECEIVER = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@contextlib.asynccontextmanager
async def example_receiver() -> AsyncIterator[tuple[int, list[str]]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(RECEIVER), "--port", str(port), "--secret", SECRET,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    lines: list[str] = []

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            lines.append(line.decode())

    reader = asyncio.create_task(read())
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            await asyncio.sleep(0.05)
        yield port, lines
    finally:
        process.terminate()
        await process.wait()
        reader.cancel()


@pytest.mark.parametrize(
    ("format_name", "expected"),
    [("json", '"value":1250.00'), ("xml", "<value>1250.00</value>"), ("csv", "1250.00")],
)
async def test_the_example_receiver_prints_the_body_as_sent_and_checks_its_signature(
    backchannel: RunningServer, format_name: str, expected: str
) -> None:
    async with example_receiver() as (port, lines):
        await create_webhook_recipient(
            backchannel, "acme", f"http://127.0.0.1:{port}/feedback", SECRET, format=format_name
        )
        answer = await backchannel.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id=f"example-{format_name}",
                feedback=brief_example_feedback(),
                recipient_ids=["acme"],
            )
        )
        event = await wait_for_event(backchannel, answer.feedback.id)
        assert event.response_status.code == 204
        for _ in range(100):
            if any(expected in line for line in lines):
                break
            await asyncio.sleep(0.05)
    output = "".join(lines)
    assert "signature OK" in output
    assert expected in output, output
