"""A whole life of recipients with every kind of secret, played against a running server,
keeping every text the server hands out: each RPC answer and error (message and details),
each event streamed, listed or got. Tests then look for every spelling of every secret in
what was kept, in the logs and in the spans: there must be none.

The recipients' endpoints echo what they are sent (headers, URL, a refused password), so
the first attempts fail with answers that repeat the credentials, then are retried; one
update is refused for a changed destination; the keys are rotated halfway."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import grpc
from backchannel_client.v1 import (
    feedback_service_pb2,
    feedback_service_pb2_grpc,
    recipient_pb2,
    recipient_service_pb2,
    recipient_service_pb2_grpc,
)
from google.protobuf import field_mask_pb2, text_format
from google.protobuf.message import Message
from google.rpc import status_pb2

from support.brief_example import brief_example_feedback
from support.polling import eventually
from support.recipient_calls import struct
from support.secret_recipients import BASIC_PASSWORD, SecretKinds

FINISHED = {
    feedback_service_pb2.DELIVERY_STATE_SUCCEEDED,
    feedback_service_pb2.DELIVERY_STATE_FAILED,
    feedback_service_pb2.DELIVERY_STATE_DEAD,
}


class Stubs(Protocol):
    @property
    def feedback(self) -> feedback_service_pb2_grpc.FeedbackServiceStub: ...

    @property
    def recipients(self) -> recipient_service_pb2_grpc.RecipientServiceStub: ...


class Seen:
    """Every text the server handed out."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.answers = 0
        self.errors = 0

    def answer(self, message: Message) -> None:
        self.answers += 1
        self.texts.append(text_format.MessageToString(message, as_utf8=True))
        self.texts.append(message.SerializeToString().decode("utf-8", errors="replace"))

    def error(self, error: grpc.aio.AioRpcError) -> None:
        self.errors += 1
        self.texts.append(error.details() or "")
        for key, value in error.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                assert isinstance(value, bytes)
                status = status_pb2.Status.FromString(value)
                self.texts.append(text_format.MessageToString(status, as_utf8=True))
                for detail in status.details:
                    self.texts.append(detail.value.decode("utf-8", errors="replace"))
            else:
                self.texts.append(f"{key}: {value!r}")

    async def call(self, call: Awaitable[Any]) -> Any:
        """The answer of ``call``, kept; or None when it failed, its error kept."""
        try:
            answer = await call
        except grpc.aio.AioRpcError as error:
            self.error(error)
            return None
        self.answer(answer)
        return answer


class EventWatcher:
    """Keeps every message of one StreamFeedbackEvents call (operator events included)."""

    def __init__(self, server: Stubs, seen: Seen) -> None:
        self._call = server.feedback.StreamFeedbackEvents(
            feedback_service_pb2.StreamFeedbackEventsRequest(
                filter=feedback_service_pb2.EventFilter(include_operator_events=True),
                from_beginning=True,
            )
        )
        self._seen = seen
        self.events = 0
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
            async for message in self._call:
                self._seen.answer(message)
                if message.HasField("event"):
                    self.events += 1

    async def stop(self) -> None:
        self._call.cancel()
        await asyncio.wait({self._task}, timeout=10)


async def all_finished(
    server: Stubs, seen: Seen, feedback_id: str
) -> feedback_service_pb2.GetFeedbackResponse:
    async def finished() -> feedback_service_pb2.GetFeedbackResponse | None:
        got = await server.feedback.GetFeedback(
            feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
        )
        done = got.deliveries and all(d.state in FINISHED for d in got.deliveries)
        return got if done else None

    got = await eventually(finished, timeout=60)
    seen.answer(got)
    return got


async def send_and_finish(server: Stubs, seen: Seen, request_id: str) -> int:
    """Sends one feedback to every recipient, waits until each delivery is finished;
    returns how many attempts were made."""
    sent = await seen.call(
        server.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id=request_id, feedback=brief_example_feedback()
            )
        )
    )
    assert sent is not None
    got = await all_finished(server, seen, sent.feedback.id)
    return sum(len(d.attempts) for d in got.deliveries)


async def list_everything(server: Stubs, seen: Seen) -> None:
    await seen.call(server.recipients.ListRecipients(recipient_service_pb2.ListRecipientsRequest()))
    token = ""
    while True:
        page = await seen.call(
            server.feedback.ListFeedbackEvents(
                feedback_service_pb2.ListFeedbackEventsRequest(page_token=token, page_size=50)
            )
        )
        token = page.next_page_token
        if not token:
            return


async def probe_every_recipient(server: Stubs, seen: Seen, kinds: SecretKinds) -> None:
    for recipient in kinds.recipients:
        await seen.call(
            server.recipients.GetRecipient(
                recipient_service_pb2.GetRecipientRequest(recipient_id=recipient.id)
            )
        )
        await seen.call(
            server.recipients.TestRecipient(
                recipient_service_pb2.TestRecipientRequest(recipient_id=recipient.id)
            )
        )
    unsaved = recipient_pb2.Recipient()
    unsaved.CopyFrom(kinds.recipients[0])
    unsaved.id = "unsaved"
    await seen.call(
        server.recipients.TestRecipient(
            recipient_service_pb2.TestRecipientRequest(recipient=unsaved)
        )
    )


async def updates(server: Stubs, seen: Seen, kinds: SecretKinds) -> None:
    """An update that keeps the destination, one refused for changing it without the
    secret, one that gives the secret again, and a refused create that quotes nothing."""
    by_id = {r.id: r for r in kinds.recipients}
    slower = recipient_pb2.Recipient(id="wh-bearer")
    slower.transport_settings.CopyFrom(by_id["wh-bearer"].transport_settings)
    slower.transport_settings.update({"timeout_seconds": 9})
    await seen.call(
        server.recipients.UpdateRecipient(
            recipient_service_pb2.UpdateRecipientRequest(
                recipient=slower, update_mask=field_mask_pb2.FieldMask(paths=["transport_settings"])
            )
        )
    )
    moved = recipient_pb2.Recipient(id="wh-basic")
    moved.transport_settings.CopyFrom(by_id["wh-basic"].transport_settings)
    moved.transport_settings.update({"url": by_id["wh-basic"].transport_settings["url"] + "/moved"})
    refused = await seen.call(
        server.recipients.UpdateRecipient(
            recipient_service_pb2.UpdateRecipientRequest(
                recipient=moved, update_mask=field_mask_pb2.FieldMask(paths=["transport_settings"])
            )
        )
    )
    assert refused is None, "a changed destination without the secret must be refused"
    moved.secret_settings.CopyFrom(struct({"basic_password": BASIC_PASSWORD}))
    await seen.call(
        server.recipients.UpdateRecipient(
            recipient_service_pb2.UpdateRecipientRequest(
                recipient=moved,
                update_mask=field_mask_pb2.FieldMask(
                    paths=["transport_settings", "secret_settings"]
                ),
            )
        )
    )
    careless = recipient_pb2.Recipient()
    careless.CopyFrom(by_id["wh-bearer"])
    careless.id = "careless"
    careless.transport_settings.update(
        {"bearer_token": by_id["wh-bearer"].secret_settings["bearer_token"]}
    )
    careless.secret_settings.update({"signing_secrets": "whsec_" + BASIC_PASSWORD})
    assert (
        await seen.call(
            server.recipients.CreateRecipient(
                recipient_service_pb2.CreateRecipientRequest(recipient=careless)
            )
        )
        is None
    )


async def play(
    server: Stubs,
    kinds: SecretKinds,
    seen: Seen,
    rotate: Callable[[], Awaitable[Stubs]],
) -> int:
    """The whole scenario; ``rotate`` restarts the server with a new key first, seals every
    secret again under it, and returns the server to go on with. Returns how many attempts
    were made (the caller checks there were failures and retries)."""
    for recipient in kinds.recipients:
        created = await seen.call(
            server.recipients.CreateRecipient(
                recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
            )
        )
        assert created is not None, f"{recipient.id} was not created: {seen.texts[-1]}"
    watcher = EventWatcher(server, seen)
    attempts = await send_and_finish(server, seen, "before-rotation")
    await probe_every_recipient(server, seen, kinds)
    await list_everything(server, seen)
    await updates(server, seen, kinds)
    await watcher.stop()
    server = await rotate()
    watcher = EventWatcher(server, seen)
    attempts += await send_and_finish(server, seen, "after-rotation")
    await probe_every_recipient(server, seen, kinds)
    await list_everything(server, seen)
    await eventually(_at_least(watcher, 2 * len(kinds.recipients)), timeout=30)
    await watcher.stop()
    return attempts


def _at_least(watcher: EventWatcher, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return watcher.events >= count

    return check


def leaked(texts: list[str], spellings: list[str]) -> list[str]:
    """The spellings found in any of ``texts``, described without showing them."""
    joined = "\n".join(texts)
    return [f"a spelling of {len(s)} characters ({s[:3]}...)" for s in spellings if s in joined]
