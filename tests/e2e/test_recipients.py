"""RecipientService end to end: create, get, list, update and delete recipients; secret
settings never leave the server; invalid recipients are refused with every problem named."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from aiohttp import web
from backchannel_client.v1 import (
    event_pb2,
    feedback_pb2,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
)
from google.protobuf import field_mask_pb2, struct_pb2
from support.brief_example import brief_example_feedback
from support.database_rows import count_rows, delivery_states
from support.in_process_server import RunningServer
from support.receiver import Received, WebhookReceiver
from support.rpc_errors import rich_error
from support.webhook_recipients import create_webhook_recipient

#: Where recipients that are never delivered to point (the discard port, on loopback).
NOWHERE = "http://127.0.0.1:9/hook"
BEARER_TOKEN = "tok_" + "Zq8vN3kLw5YbR2xTg7HcJ4pD"
ROTATED_BEARER_TOKEN = "tok_" + "Mv6sQ1nFe9UaK3wXy8LbT5rG"


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=paths)


async def get(running: RunningServer, recipient_id: str) -> recipient_pb2.Recipient:
    answer = await running.recipients.GetRecipient(
        recipient_service_pb2.GetRecipientRequest(recipient_id=recipient_id)
    )
    return answer.recipient


async def update(
    running: RunningServer, recipient: recipient_pb2.Recipient, *paths: str
) -> recipient_pb2.Recipient:
    answer = await running.recipients.UpdateRecipient(
        recipient_service_pb2.UpdateRecipientRequest(recipient=recipient, update_mask=mask(*paths))
    )
    return answer.recipient


async def delete(running: RunningServer, recipient_id: str) -> None:
    await running.recipients.DeleteRecipient(
        recipient_service_pb2.DeleteRecipientRequest(recipient_id=recipient_id)
    )


async def failure_of(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def send(
    running: RunningServer, request_id: str, recipient_id: str
) -> feedback_service_pb2.SendFeedbackResponse:
    return await running.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id=request_id, feedback=brief_example_feedback(), recipient_ids=[recipient_id]
        )
    )


async def delivery_when(
    running: RunningServer,
    feedback_id: str,
    done: Callable[[feedback_service_pb2.Delivery], bool],
) -> feedback_service_pb2.Delivery:
    """The feedback's only delivery, polled with GetFeedback until ``done`` holds for it."""
    async with asyncio.timeout(15):
        while True:
            got = await running.feedback.GetFeedback(
                feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
            )
            [delivery] = got.deliveries
            if done(delivery):
                return delivery
            await asyncio.sleep(0.05)


# --- create, get, list ---------------------------------------------------------------------


async def test_a_created_recipient_is_returned_as_stored_with_defaults_and_output_fields(
    backchannel: RunningServer, signing_secret: str
) -> None:
    wanted = recipient_pb2.Subscription(
        kinds=[feedback_pb2.FEEDBACK_KIND_CONVERSION], source_ids=["SOURCE_ABC"]
    )

    created = await create_webhook_recipient(
        backchannel, "acme", NOWHERE, signing_secret, display_name="Acme Leads", subscription=wanted
    )

    assert created.id == "acme"
    assert created.display_name == "Acme Leads"
    assert created.recipient_type == recipient_pb2.RECIPIENT_TYPE_SOURCE
    assert created.transport == "webhook"
    assert dict(created.transport_settings) == {"url": NOWHERE}
    assert created.format == "json"
    assert created.state == recipient_pb2.RECIPIENT_STATE_ACTIVE
    assert created.subscription == wanted
    assert list(created.secret_setting_names) == ["signing_secrets"]
    assert not created.HasField("secret_settings")
    assert created.HasField("create_time") and created.HasField("update_time")
    assert created.etag


async def test_get_returns_the_recipient_as_created(
    backchannel: RunningServer, signing_secret: str
) -> None:
    created = await create_webhook_recipient(backchannel, "acme", NOWHERE, signing_secret)

    assert await get(backchannel, "acme") == created


async def test_get_of_an_unknown_recipient_is_not_found(backchannel: RunningServer) -> None:
    error = rich_error(await failure_of(get(backchannel, "ghost")))

    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.error_info.reason == "RECIPIENT_NOT_FOUND"


async def test_list_pages_through_every_recipient_once_in_id_order(
    backchannel: RunningServer, signing_secret: str
) -> None:
    ids = ["alpha", "bravo", "charlie", "delta", "echo"]
    for recipient_id in random.Random(7).sample(ids, len(ids)):
        await create_webhook_recipient(backchannel, recipient_id, NOWHERE, signing_secret)

    pages: list[list[str]] = []
    token = ""
    while True:
        answer = await backchannel.recipients.ListRecipients(
            recipient_service_pb2.ListRecipientsRequest(page_size=2, page_token=token)
        )
        pages.append([r.id for r in answer.recipients])
        token = answer.next_page_token
        if not token:
            break
        assert len(pages) < 10, "paging does not end"

    assert pages == [["alpha", "bravo"], ["charlie", "delta"], ["echo"]]


# --- update --------------------------------------------------------------------------------


async def test_update_changes_only_the_fields_named_in_the_mask(
    backchannel: RunningServer, signing_secret: str
) -> None:
    created = await create_webhook_recipient(
        backchannel, "acme", NOWHERE, signing_secret, display_name="Old name"
    )
    change = recipient_pb2.Recipient(
        id="acme",
        display_name="New name",
        transport_settings=struct({"url": "http://127.0.0.1:9/elsewhere"}),
        state=recipient_pb2.RECIPIENT_STATE_PAUSED,
    )

    updated = await update(backchannel, change, "display_name")

    assert updated.display_name == "New name"
    assert dict(updated.transport_settings) == {"url": NOWHERE}
    assert updated.state == recipient_pb2.RECIPIENT_STATE_ACTIVE
    assert updated.etag != created.etag
    assert await get(backchannel, "acme") == updated


async def test_update_with_the_current_etag_succeeds_and_with_a_stale_one_is_aborted(
    backchannel: RunningServer, signing_secret: str
) -> None:
    created = await create_webhook_recipient(backchannel, "acme", NOWHERE, signing_secret)
    first = await update(
        backchannel,
        recipient_pb2.Recipient(id="acme", display_name="First", etag=created.etag),
        "display_name",
    )

    error = rich_error(
        await failure_of(
            update(
                backchannel,
                recipient_pb2.Recipient(id="acme", display_name="Lost", etag=created.etag),
                "display_name",
            )
        )
    )

    assert error.code == grpc.StatusCode.ABORTED
    assert error.error_info.reason == "ETAG_MISMATCH"
    assert await get(backchannel, "acme") == first


# --- delete --------------------------------------------------------------------------------


async def test_a_deleted_recipient_is_not_found_and_not_listed(
    backchannel: RunningServer, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "keep", NOWHERE, signing_secret)
    await create_webhook_recipient(backchannel, "gone", NOWHERE, signing_secret)

    await delete(backchannel, "gone")

    error = rich_error(await failure_of(get(backchannel, "gone")))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.error_info.reason == "RECIPIENT_NOT_FOUND"
    listed = await backchannel.recipients.ListRecipients(
        recipient_service_pb2.ListRecipientsRequest()
    )
    assert [r.id for r in listed.recipients] == ["keep"]


async def test_deleting_a_recipient_twice_is_not_found(
    backchannel: RunningServer, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "gone", NOWHERE, signing_secret)
    await delete(backchannel, "gone")

    error = rich_error(await failure_of(delete(backchannel, "gone")))

    assert error.code == grpc.StatusCode.NOT_FOUND


async def test_deleting_a_recipient_cancels_its_pending_delivery_and_keeps_finished_ones(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    def first_accepted_then_retry_in_an_hour(received: Received) -> web.StreamResponse:
        if len(receiver.requests) == 1:
            return web.Response(status=204)
        return web.Response(status=503, headers={"Retry-After": "3600"})

    receiver.respond = first_accepted_then_retry_in_an_hour
    await create_webhook_recipient(backchannel, "doomed", receiver.url, signing_secret)
    delivered = await send(backchannel, "delivered-1", "doomed")
    await delivery_when(
        backchannel,
        delivered.feedback.id,
        lambda d: d.state == feedback_service_pb2.DELIVERY_STATE_SUCCEEDED,
    )
    waiting = await send(backchannel, "waiting-1", "doomed")
    await delivery_when(backchannel, waiting.feedback.id, lambda d: len(d.attempts) == 1)

    await delete(backchannel, "doomed")

    cancelled = await delivery_when(backchannel, waiting.feedback.id, lambda d: True)
    assert cancelled.state == feedback_service_pb2.DELIVERY_STATE_CANCELLED
    assert [a.processing_status for a in cancelled.attempts] == [
        event_pb2.PROCESSING_STATUS_RETRY_SCHEDULED
    ]
    finished = await delivery_when(backchannel, delivered.feedback.id, lambda d: True)
    assert finished.state == feedback_service_pb2.DELIVERY_STATE_SUCCEEDED
    assert [a.processing_status for a in finished.attempts] == [
        event_pb2.PROCESSING_STATUS_SUCCEEDED
    ]


async def test_deleting_a_paused_recipient_cancels_its_held_delivery(
    backchannel: RunningServer, database_url: str, signing_secret: str
) -> None:
    await create_webhook_recipient(
        backchannel, "paused", NOWHERE, signing_secret, state=recipient_pb2.RECIPIENT_STATE_PAUSED
    )
    held = await send(backchannel, "held-1", "paused")
    assert await delivery_states(database_url, held.feedback.id) == {"paused": "held"}

    await delete(backchannel, "paused")

    cancelled = await delivery_when(backchannel, held.feedback.id, lambda d: True)
    assert cancelled.state == feedback_service_pb2.DELIVERY_STATE_CANCELLED
    assert list(cancelled.attempts) == []


# --- secrets -------------------------------------------------------------------------------


async def create_with_secrets(
    running: RunningServer, signing_secret: str
) -> recipient_pb2.Recipient:
    return await create_webhook_recipient(
        running, "vault", NOWHERE, signing_secret,
        transport_settings=struct({"url": NOWHERE, "auth": "bearer"}),
        secret_settings=struct({"signing_secrets": signing_secret, "bearer_token": BEARER_TOKEN}),
    )  # fmt: skip


def secret_spellings(signing_secret: str) -> list[bytes]:
    key = signing_secret.removeprefix("whsec_")
    return [value.encode() for value in (signing_secret, key, BEARER_TOKEN, ROTATED_BEARER_TOKEN)]


async def answer_of_create(running: RunningServer, signing_secret: str) -> bytes:
    created = await create_with_secrets(running, signing_secret)
    assert list(created.secret_setting_names) == ["bearer_token", "signing_secrets"]
    return created.SerializeToString()


async def answer_of_get(running: RunningServer, signing_secret: str) -> bytes:
    await create_with_secrets(running, signing_secret)
    answer = await running.recipients.GetRecipient(
        recipient_service_pb2.GetRecipientRequest(recipient_id="vault")
    )
    assert list(answer.recipient.secret_setting_names) == ["bearer_token", "signing_secrets"]
    return answer.SerializeToString()


async def answer_of_list(running: RunningServer, signing_secret: str) -> bytes:
    await create_with_secrets(running, signing_secret)
    answer = await running.recipients.ListRecipients(recipient_service_pb2.ListRecipientsRequest())
    assert [list(r.secret_setting_names) for r in answer.recipients] == [
        ["bearer_token", "signing_secrets"]
    ]
    return answer.SerializeToString()


async def answer_of_update(running: RunningServer, signing_secret: str) -> bytes:
    await create_with_secrets(running, signing_secret)
    rotated = recipient_pb2.Recipient(
        id="vault",
        display_name="Vault",
        secret_settings=struct({"bearer_token": ROTATED_BEARER_TOKEN}),
    )
    answer = await running.recipients.UpdateRecipient(
        recipient_service_pb2.UpdateRecipientRequest(
            recipient=rotated, update_mask=mask("display_name", "secret_settings")
        )
    )
    assert answer.recipient.display_name == "Vault"
    assert list(answer.recipient.secret_setting_names) == ["bearer_token", "signing_secrets"]
    return answer.SerializeToString()


@pytest.mark.parametrize(
    "answer_of",
    [answer_of_create, answer_of_get, answer_of_list, answer_of_update],
    ids=["create", "get", "list", "update"],
)
async def test_no_answer_carries_a_secret_value_only_the_names_of_the_secrets(
    backchannel: RunningServer,
    signing_secret: str,
    answer_of: Callable[[RunningServer, str], Any],
) -> None:
    serialized: bytes = await answer_of(backchannel, signing_secret)

    for secret in secret_spellings(signing_secret):
        assert secret not in serialized


async def test_a_refused_recipient_is_answered_without_its_secret_values(
    backchannel: RunningServer, database_url: str
) -> None:
    recipient = recipient_pb2.Recipient(
        id="leaky",
        recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE,
        transport="webhook",
        transport_settings=struct({"bearer_token": BEARER_TOKEN}),
        secret_settings=struct({"url": "ftp://user:Pa55w0rd-Secret-9@127.0.0.1/hook"}),
    )

    error = rich_error(
        await failure_of(
            backchannel.recipients.CreateRecipient(
                recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
            )
        )
    )

    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(error.violated_fields) == [
        "recipient.secret_settings.url",
        "recipient.transport_settings.bearer_token",
    ]
    for secret in (BEARER_TOKEN, "Pa55w0rd-Secret-9"):
        assert secret.encode() not in error.serialized()
    assert await count_rows(database_url, "recipients") == {"recipients": 0}


# --- invalid recipients --------------------------------------------------------------------


def valid_recipient(**changes: Any) -> recipient_pb2.Recipient:
    values: dict[str, Any] = {
        "id": "acme",
        "recipient_type": recipient_pb2.RECIPIENT_TYPE_SOURCE,
        "transport": "webhook",
        "transport_settings": struct({"url": NOWHERE}),
        "format": "json",
    }
    values.update(changes)
    return recipient_pb2.Recipient(**values)


INVALID = [
    pytest.param(valid_recipient(id="Bad_ID"), ["recipient.id"], id="upper-case-id"),
    pytest.param(valid_recipient(id="9lives"), ["recipient.id"], id="id-starting-with-digit"),
    pytest.param(valid_recipient(id="a" * 64), ["recipient.id"], id="id-64-chars"),
    pytest.param(valid_recipient(id="acme\n"), ["recipient.id"], id="id-with-trailing-newline"),
    pytest.param(
        valid_recipient(recipient_type=recipient_pb2.RECIPIENT_TYPE_UNSPECIFIED),
        ["recipient.recipient_type"],
        id="missing-type",
    ),
    pytest.param(
        valid_recipient(transport="carrier-pigeon"), ["recipient.transport"], id="unknown-transport"
    ),
    pytest.param(valid_recipient(format="yaml"), ["recipient.format"], id="unknown-format"),
    pytest.param(
        valid_recipient(transport_settings=struct({"url": NOWHERE, "bearer_token": "tok"})),
        ["recipient.transport_settings.bearer_token"],
        id="secret-in-transport-settings",
    ),
    *(
        pytest.param(
            valid_recipient(transport_settings=struct({"url": url})),
            ["recipient.transport_settings.url"],
            id=f"url-{label}",
        )
        for label, url in [
            ("not-a-url", "not a url"),
            ("ftp", "ftp://127.0.0.1/hook"),
            ("no-host", "http:///hook"),
        ]
    ),
    pytest.param(
        valid_recipient(
            id="Bad_ID",
            recipient_type=recipient_pb2.RECIPIENT_TYPE_UNSPECIFIED,
            transport="carrier-pigeon",
            format="yaml",
        ),
        ["recipient.format", "recipient.id", "recipient.recipient_type", "recipient.transport"],
        id="everything-wrong-with-an-unknown-transport",
    ),
    pytest.param(
        valid_recipient(
            id="-bad",
            format="yaml",
            transport_settings=struct({"url": "not a url", "bearer_token": "tok"}),
        ),
        [
            "recipient.format",
            "recipient.id",
            "recipient.transport_settings.bearer_token",
            "recipient.transport_settings.url",
        ],
        id="everything-wrong-with-webhook-settings",
    ),
]


@pytest.mark.parametrize(("recipient", "violated_fields"), INVALID)
async def test_an_invalid_recipient_is_invalid_argument_listing_every_violation(
    backchannel: RunningServer,
    database_url: str,
    recipient: recipient_pb2.Recipient,
    violated_fields: list[str],
) -> None:
    error = rich_error(
        await failure_of(
            backchannel.recipients.CreateRecipient(
                recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
            )
        )
    )

    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.error_info.reason == "INVALID_ARGUMENT"
    assert sorted(error.violated_fields) == violated_fields
    assert await count_rows(database_url, "recipients") == {"recipients": 0}


async def test_the_valid_baseline_recipient_is_created(backchannel: RunningServer) -> None:
    answer = await backchannel.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=valid_recipient())
    )

    assert answer.recipient.id == "acme"


async def test_creating_a_recipient_with_an_existing_id_is_already_exists(
    backchannel: RunningServer, signing_secret: str
) -> None:
    original = await create_webhook_recipient(
        backchannel, "acme", NOWHERE, signing_secret, display_name="Original"
    )

    error = rich_error(
        await failure_of(
            create_webhook_recipient(
                backchannel, "acme", NOWHERE, signing_secret, display_name="Impostor"
            )
        )
    )

    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.error_info.reason == "RECIPIENT_EXISTS"
    assert await get(backchannel, "acme") == original
