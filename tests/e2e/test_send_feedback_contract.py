"""SendFeedback's contract, end to end: bad input is refused whole with every problem named
and nothing stored; named recipients are checked; request_id makes a call idempotent
(AIP-155); subscriptions choose recipients; GetFeedback returns what was sent and what
became of it; health and reflection let stock tools call the service."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

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
from google.protobuf import field_mask_pb2, json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.brief_example import brief_example_feedback
from support.database_rows import count_rows, delivery_states
from support.in_process_server import RunningServer, serving
from support.receiver import Received, WebhookReceiver
from support.rpc_errors import rich_error
from support.webhook_recipients import create_webhook_recipient

SendFeedbackRequest = feedback_service_pb2.SendFeedbackRequest
Change = Callable[[SendFeedbackRequest], None]
NOTHING_STORED = {"feedback": 0, "deliveries": 0}
SEND_FEEDBACK = "/backchannel.v1.FeedbackService/SendFeedback"
T = TypeVar("T")


def valid_request(request_id: str = "req-1") -> SendFeedbackRequest:
    return SendFeedbackRequest(
        request_id=request_id, feedback=brief_example_feedback(), recipient_ids=["acme"]
    )


@pytest.fixture
async def acme(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> recipient_pb2.Recipient:
    return await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)


async def send_expecting_error(
    running: RunningServer, request: SendFeedbackRequest
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.feedback.SendFeedback(request)
    return caught.value


async def feedback_when(
    running: RunningServer,
    feedback_id: str,
    done: Callable[[feedback_service_pb2.GetFeedbackResponse], bool],
    timeout: float = 15.0,
) -> feedback_service_pb2.GetFeedbackResponse:
    """GetFeedback, polled until ``done`` holds for its answer."""
    async with asyncio.timeout(timeout):
        while True:
            got = await running.feedback.GetFeedback(
                feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
            )
            if done(got):
                return got
            await asyncio.sleep(0.05)


def all_settled(got: feedback_service_pb2.GetFeedbackResponse) -> bool:
    return bool(got.deliveries) and all(
        d.state == feedback_service_pb2.DELIVERY_STATE_SUCCEEDED for d in got.deliveries
    )


# --- malformed requests --------------------------------------------------------------------


def _target(request: SendFeedbackRequest, path: str) -> tuple[Any, str]:
    *parents, name = path.split(".")
    target: Any = request
    for parent in parents:
        target = getattr(target, parent)
    return target, name


def setting(path: str, value: object) -> Change:
    def change(request: SendFeedbackRequest) -> None:
        target, name = _target(request, path)
        setattr(target, name, value)

    return change


def clearing(path: str) -> Change:
    def change(request: SendFeedbackRequest) -> None:
        target, name = _target(request, path)
        target.ClearField(name)

    return change


def putting(path: str, key: str, value: object) -> Change:
    def change(request: SendFeedbackRequest) -> None:
        target, name = _target(request, path)
        getattr(target, name)[key] = value

    return change


def with_attributes(attributes: dict[str, Any]) -> Change:
    def change(request: SendFeedbackRequest) -> None:
        request.feedback.attributes.update(attributes)

    return change


def with_recipient_ids(*recipient_ids: str) -> Change:
    def change(request: SendFeedbackRequest) -> None:
        del request.recipient_ids[:]
        request.recipient_ids.extend(recipient_ids)

    return change


def as_kind(kind: feedback_pb2.FeedbackKind.ValueType, *clear: str) -> Change:
    def change(request: SendFeedbackRequest) -> None:
        request.feedback.kind = kind
        for name in clear:
            request.feedback.ClearField(name)  # type: ignore[arg-type]

    return change


MALFORMED = [
    pytest.param(setting("request_id", ""), ["request_id"], id="missing-request-id"),
    pytest.param(setting("request_id", "req 1"), ["request_id"], id="request-id-with-space"),
    pytest.param(setting("request_id", "r" * 129), ["request_id"], id="request-id-129-chars"),
    pytest.param(
        setting("request_id", "req-1\n"), ["request_id"], id="request-id-with-trailing-newline"
    ),
    pytest.param(clearing("feedback"), ["feedback"], id="missing-feedback"),
    pytest.param(setting("feedback.kind", 0), ["feedback.kind"], id="missing-kind"),
    pytest.param(
        setting("feedback.lead.lead_id", ""), ["feedback.lead.lead_id"], id="missing-lead-id"
    ),
    *(
        pytest.param(
            setting("feedback.outcome.value.amount", amount),
            ["feedback.outcome.value.amount"],
            id=f"amount-{label}",
        )
        for label, amount in [
            ("decimal-comma", "12,50"),
            ("exponent", "1e5"),
            ("not-a-number", "abc"),
            ("trailing-newline", "12.50\n"),
            ("arabic-indic-digits", "\u0661\u0662.\u0665\u0660"),
        ]
    ),
    *(
        pytest.param(
            setting("feedback.outcome.value.currency_code", code),
            ["feedback.outcome.value.currency_code"],
            id=f"currency-{label}",
        )
        for label, code in [("lower-case", "usd"), ("trailing-newline", "USD\n")]
    ),
    *(
        pytest.param(
            setting("feedback.quality.overall_score", score),
            ["feedback.quality.overall_score"],
            id=f"overall-score-{score}",
        )
        for score in (101.0, -1.0, math.nan)
    ),
    pytest.param(
        putting("feedback.quality.dimensions", "data_quality", 101.0),
        ["feedback.quality.dimensions['data_quality']"],
        id="dimension-score-101",
    ),
    pytest.param(
        putting("feedback.quality.dimensions", "Data Quality", 50.0),
        ["feedback.quality.dimensions['Data Quality']"],
        id="bad-dimension-name",
    ),
    pytest.param(
        setting("feedback.lead.lead_id", "LC\x00123"),
        ["feedback.lead.lead_id"],
        id="nul-in-lead-id",
    ),
    pytest.param(
        setting("feedback.outcome.product", "home\x00insurance"),
        ["feedback.outcome.product"],
        id="nul-in-outcome-product",
    ),
    pytest.param(
        putting("feedback.attribution.sub_ids", "sub1", "a\x00b"),
        ["feedback.attribution.sub_ids['sub1']"],
        id="nul-in-sub-id-value",
    ),
    pytest.param(
        with_attributes({"note": "a\x00b"}),
        ["feedback.attributes.note"],
        id="nul-in-attributes-string",
    ),
    pytest.param(
        with_attributes({"score": math.inf}),
        ["feedback.attributes.score"],
        id="infinite-attributes-number",
    ),
    pytest.param(
        as_kind(feedback_pb2.FEEDBACK_KIND_RETURN),
        ["feedback.return_details"],
        id="return-without-reason",
    ),
    pytest.param(
        as_kind(feedback_pb2.FEEDBACK_KIND_QUALITY, "quality"),
        ["feedback.quality"],
        id="quality-without-scores",
    ),
    pytest.param(
        with_recipient_ids("acme", "acme"), ["recipient_ids[1]"], id="duplicate-recipient-ids"
    ),
]


async def test_the_valid_baseline_request_is_accepted_and_stored(
    backchannel: RunningServer, database_url: str, acme: recipient_pb2.Recipient
) -> None:
    answer = await backchannel.feedback.SendFeedback(valid_request())

    assert [d.recipient_id for d in answer.deliveries] == ["acme"]
    assert await count_rows(database_url, "feedback", "deliveries") == {
        "feedback": 1,
        "deliveries": 1,
    }


@pytest.mark.parametrize(("change", "violated_fields"), MALFORMED)
async def test_a_malformed_request_is_invalid_argument_naming_the_field_and_stores_nothing(
    backchannel: RunningServer,
    database_url: str,
    acme: recipient_pb2.Recipient,
    change: Change,
    violated_fields: list[str],
) -> None:
    request = valid_request()
    change(request)

    error = rich_error(await send_expecting_error(backchannel, request))

    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.error_info.reason, error.error_info.domain) == (
        "INVALID_ARGUMENT",
        "backchannel.dev",
    )
    assert error.violated_fields == violated_fields
    assert all(v.description for v in error.bad_request.field_violations)  # type: ignore[union-attr]
    assert await count_rows(database_url, "feedback", "deliveries") == NOTHING_STORED


async def test_a_request_with_many_problems_lists_every_one_of_them(
    backchannel: RunningServer, database_url: str, acme: recipient_pb2.Recipient
) -> None:
    request = valid_request(request_id="")
    feedback = request.feedback
    feedback.kind = feedback_pb2.FEEDBACK_KIND_UNSPECIFIED
    feedback.lead.lead_id = ""
    feedback.outcome.value.amount = "12,50"
    feedback.outcome.value.currency_code = "usd"
    feedback.outcome.product = "p" * 1025
    feedback.quality.overall_score = 101
    feedback.quality.dimensions["Data Quality"] = 50
    request.recipient_ids.append("acme")

    error = rich_error(await send_expecting_error(backchannel, request))

    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(error.violated_fields) == sorted(
        [
            "request_id",
            "feedback.kind",
            "feedback.lead.lead_id",
            "feedback.outcome.value.amount",
            "feedback.outcome.value.currency_code",
            "feedback.outcome.product",
            "feedback.quality.overall_score",
            "feedback.quality.dimensions['Data Quality']",
            "recipient_ids[1]",
        ]
    )
    assert await count_rows(database_url, "feedback", "deliveries") == NOTHING_STORED


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\xff\xff\xff\xff", id="unterminated-tag"),
        pytest.param(b"\x80", id="truncated-varint"),
        pytest.param(b"\x0a\x05ab", id="truncated-length-delimited"),
        pytest.param(b"\x0a\x02\xc3\x28", id="invalid-utf8-in-string"),
    ],
)
async def test_bytes_that_are_not_a_request_message_are_invalid_argument_not_unknown(
    backchannel: RunningServer, database_url: str, acme: recipient_pb2.Recipient, raw: bytes
) -> None:
    call = backchannel.channel.unary_unary(
        SEND_FEEDBACK, request_serializer=None, response_deserializer=None
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(raw)

    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.error_info.reason == "MALFORMED_REQUEST"
    assert await count_rows(database_url, "feedback", "deliveries") == NOTHING_STORED


# --- named recipients ----------------------------------------------------------------------


async def test_naming_an_unknown_recipient_is_not_found_and_stores_nothing(
    backchannel: RunningServer, database_url: str, acme: recipient_pb2.Recipient
) -> None:
    request = valid_request()
    request.recipient_ids.append("ghost")

    error = rich_error(await send_expecting_error(backchannel, request))

    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.error_info.reason == "RECIPIENT_NOT_FOUND"
    assert error.error_info.metadata["recipient_ids"] == "ghost"
    assert await count_rows(database_url, "feedback", "deliveries") == NOTHING_STORED


async def test_naming_a_disabled_recipient_is_failed_precondition_and_stores_nothing(
    backchannel: RunningServer,
    database_url: str,
    receiver: WebhookReceiver,
    signing_secret: str,
    acme: recipient_pb2.Recipient,
) -> None:
    await create_webhook_recipient(
        backchannel,
        "off",
        receiver.url,
        signing_secret,
        state=recipient_pb2.RECIPIENT_STATE_DISABLED,
    )
    request = valid_request()
    request.recipient_ids.append("off")

    error = rich_error(await send_expecting_error(backchannel, request))

    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.error_info.reason == "RECIPIENT_DISABLED"
    assert error.error_info.metadata["recipient_ids"] == "off"
    assert await count_rows(database_url, "feedback", "deliveries") == NOTHING_STORED


# --- changing recipients, and other replicas -----------------------------------------------


async def disable(running: RunningServer, recipient_id: str) -> None:
    await running.recipients.UpdateRecipient(
        recipient_service_pb2.UpdateRecipientRequest(
            recipient=recipient_pb2.Recipient(
                id=recipient_id, state=recipient_pb2.RECIPIENT_STATE_DISABLED
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        )
    )


async def delete(running: RunningServer, recipient_id: str) -> None:
    await running.recipients.DeleteRecipient(
        recipient_service_pb2.DeleteRecipientRequest(recipient_id=recipient_id)
    )


@contextlib.asynccontextmanager
async def server_started_after(database_url: str) -> AsyncIterator[RunningServer]:
    """Another server on the same database. It reads every recipient when it starts, so
    what it decides does not depend on how soon change notifications reach a server."""
    async with serving(database_url) as running:
        yield running


async def status_of(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@contextlib.asynccontextmanager
async def sender(
    via: str, running: RunningServer, database_url: str
) -> AsyncIterator[RunningServer]:
    """The server that the recipient was changed on, or another replica on its database
    (replicas are stateless: each must see a change once it has been acknowledged)."""
    if via == "same-server":
        yield running
    else:
        async with server_started_after(database_url) as replica:
            yield replica


VIA = pytest.mark.parametrize("via", ["same-server", "another-replica"])


# --- idempotency (AIP-155) -----------------------------------------------------------------


async def test_repeating_a_request_id_returns_the_first_answer_byte_for_byte_and_stores_nothing_new(
    backchannel: RunningServer, database_url: str, acme: recipient_pb2.Recipient
) -> None:
    first = await backchannel.feedback.SendFeedback(valid_request())
    repeat = await backchannel.feedback.SendFeedback(valid_request())

    assert repeat.SerializeToString() == first.SerializeToString()
    assert repeat.feedback.id and len(repeat.deliveries) == 1
    assert await count_rows(database_url, "feedback", "deliveries") == {
        "feedback": 1,
        "deliveries": 1,
    }


async def test_twenty_concurrent_identical_requests_store_and_deliver_once(
    backchannel: RunningServer,
    database_url: str,
    receiver: WebhookReceiver,
    acme: recipient_pb2.Recipient,
) -> None:
    answers = await asyncio.gather(
        *(backchannel.feedback.SendFeedback(valid_request("burst-1")) for _ in range(20))
    )

    assert len({a.SerializeToString() for a in answers}) == 1
    assert await count_rows(database_url, "feedback", "deliveries") == {
        "feedback": 1,
        "deliveries": 1,
    }
    [delivery] = answers[0].deliveries
    await feedback_when(backchannel, answers[0].feedback.id, all_settled)
    assert Counter(r.headers["webhook-id"] for r in receiver.requests) == {delivery.id: 1}


async def test_reusing_a_request_id_for_different_content_is_already_exists(
    backchannel: RunningServer, database_url: str, acme: recipient_pb2.Recipient
) -> None:
    await backchannel.feedback.SendFeedback(valid_request())
    different = valid_request()
    different.feedback.lead.lead_id = "LC999"

    error = rich_error(await send_expecting_error(backchannel, different))

    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.error_info.reason == "REQUEST_ID_REUSED"
    assert await count_rows(database_url, "feedback", "deliveries") == {
        "feedback": 1,
        "deliveries": 1,
    }


@VIA
@pytest.mark.parametrize("change", [disable, delete], ids=["disabled", "deleted"])
async def test_a_retry_returns_the_first_answer_even_after_its_recipient_changed(
    backchannel: RunningServer,
    database_url: str,
    acme: recipient_pb2.Recipient,
    change: Callable[[RunningServer, str], Awaitable[None]],
    via: str,
) -> None:
    first = await backchannel.feedback.SendFeedback(valid_request())
    await change(backchannel, "acme")

    async with sender(via, backchannel, database_url) as sending:
        repeat = await sending.feedback.SendFeedback(valid_request())

    assert repeat.SerializeToString() == first.SerializeToString()


# --- recipient changes take effect at once -------------------------------------------------

#: The tests below run change-then-send sequences, RACES at a time, ROUNDS times over: the
#: server must be right every time, and concurrency is what shows a stale view of the
#: recipients (how often one shows varies from round to round).
RACES, ROUNDS = 40, 5


async def in_rounds(sequence: Callable[[int], Awaitable[T]]) -> list[T]:
    results: list[T] = []
    for round_number in range(ROUNDS):
        first = round_number * RACES
        results += await asyncio.gather(*(sequence(i) for i in range(first, first + RACES)))
    return results


@VIA
@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        pytest.param(disable, grpc.StatusCode.FAILED_PRECONDITION, id="disabled"),
        pytest.param(delete, grpc.StatusCode.NOT_FOUND, id="deleted"),
    ],
)
async def test_naming_a_recipient_disabled_or_deleted_a_moment_ago_is_refused_every_time(
    backchannel: RunningServer,
    database_url: str,
    signing_secret: str,
    change: Callable[[RunningServer, str], Awaitable[None]],
    refusal: grpc.StatusCode,
    via: str,
) -> None:
    async def change_then_send(sending: RunningServer, index: int) -> grpc.StatusCode:
        recipient_id = f"r{index}"
        await create_webhook_recipient(
            backchannel, recipient_id, "http://127.0.0.1:9/hook", signing_secret,
            state=recipient_pb2.RECIPIENT_STATE_PAUSED,
        )  # fmt: skip
        request = SendFeedbackRequest(
            request_id=f"before-{index}",
            feedback=brief_example_feedback(),
            recipient_ids=[recipient_id],
        )
        await sending.feedback.SendFeedback(request)
        await change(backchannel, recipient_id)
        request.request_id = f"after-{index}"
        return await status_of(sending.feedback.SendFeedback(request))

    async with sender(via, backchannel, database_url) as sending:
        codes = await in_rounds(functools.partial(change_then_send, sending))

    assert codes == [refusal] * (RACES * ROUNDS)
    assert await count_rows(database_url, "deliveries") == {"deliveries": RACES * ROUNDS}


@VIA
async def test_a_new_recipient_is_chosen_by_its_subscription_as_soon_as_it_is_created(
    backchannel: RunningServer, database_url: str, signing_secret: str, via: str
) -> None:
    async def create_then_send(sending: RunningServer, index: int) -> list[str]:
        recipient_id, source_id = f"r{index}", f"SOURCE_{index}"
        await create_webhook_recipient(
            backchannel, recipient_id, "http://127.0.0.1:9/hook", signing_secret,
            state=recipient_pb2.RECIPIENT_STATE_PAUSED,
            subscription=recipient_pb2.Subscription(source_ids=[source_id]),
        )  # fmt: skip
        request = SendFeedbackRequest(request_id=f"send-{index}", feedback=brief_example_feedback())
        request.feedback.lead.source_id = source_id
        answer = await sending.feedback.SendFeedback(request)
        return [d.recipient_id for d in answer.deliveries]

    async with sender(via, backchannel, database_url) as sending:
        chosen = await in_rounds(functools.partial(create_then_send, sending))

    assert chosen == [[f"r{i}"] for i in range(RACES * ROUNDS)]


# --- subscriptions -------------------------------------------------------------------------


def subscription(
    kinds: tuple[feedback_pb2.FeedbackKind.ValueType, ...] = (), sources: tuple[str, ...] = ()
) -> recipient_pb2.Subscription:
    return recipient_pb2.Subscription(kinds=kinds, source_ids=sources)


CONVERSION = feedback_pb2.FEEDBACK_KIND_CONVERSION
RETURN = feedback_pb2.FEEDBACK_KIND_RETURN


async def test_without_recipient_ids_every_matching_subscriber_gets_a_delivery_and_no_other(
    backchannel: RunningServer, database_url: str, receiver: WebhookReceiver, signing_secret: str
) -> None:
    subscriptions = {
        "every-kind": subscription(),
        "conversions": subscription((CONVERSION,)),
        "from-abc": subscription(sources=("SOURCE_ABC",)),
        "conversions-from-abc": subscription((CONVERSION, RETURN), ("SOURCE_XYZ", "SOURCE_ABC")),
        "returns-only": subscription((RETURN,)),
        "from-xyz": subscription(sources=("SOURCE_XYZ",)),
        "conversions-from-xyz": subscription((CONVERSION,), ("SOURCE_XYZ",)),
    }
    for recipient_id, wanted in subscriptions.items():
        await create_webhook_recipient(
            backchannel, recipient_id, receiver.url, signing_secret, subscription=wanted
        )

    async with server_started_after(database_url) as replica:
        answer = await replica.feedback.SendFeedback(
            SendFeedbackRequest(request_id="sub-1", feedback=brief_example_feedback())
        )

    chosen = {"every-kind", "conversions", "from-abc", "conversions-from-abc"}
    assert {d.recipient_id for d in answer.deliveries} == chosen
    assert set(await delivery_states(database_url, answer.feedback.id)) == chosen


async def test_a_paused_subscriber_gets_a_held_delivery_that_is_sent_once_it_is_active(
    backchannel: RunningServer, database_url: str, receiver: WebhookReceiver, signing_secret: str
) -> None:
    base = f"http://127.0.0.1:{receiver.port}"
    await create_webhook_recipient(
        backchannel, "paused", f"{base}/paused", signing_secret,
        state=recipient_pb2.RECIPIENT_STATE_PAUSED,
    )  # fmt: skip
    await create_webhook_recipient(backchannel, "active", f"{base}/active", signing_secret)
    async with server_started_after(database_url) as replica:
        answer = await replica.feedback.SendFeedback(
            SendFeedbackRequest(request_id="sub-1", feedback=brief_example_feedback())
        )
    deliveries = {d.recipient_id: d for d in answer.deliveries}
    assert deliveries["paused"].state == feedback_service_pb2.DELIVERY_STATE_HELD
    # The active recipient's delivery was due at the same time; once it has been sent, the
    # held one would have been sent too if it were not held.
    got = await feedback_when(
        backchannel,
        answer.feedback.id,
        lambda g: any(
            d.state == feedback_service_pb2.DELIVERY_STATE_SUCCEEDED for d in g.deliveries
        ),
    )
    states = {d.recipient_id: (d.state, len(d.attempts)) for d in got.deliveries}
    assert states["paused"] == (feedback_service_pb2.DELIVERY_STATE_HELD, 0)
    assert [r.path for r in receiver.requests] == ["/active"]

    await backchannel.recipients.UpdateRecipient(
        recipient_service_pb2.UpdateRecipientRequest(
            recipient=recipient_pb2.Recipient(
                id="paused", state=recipient_pb2.RECIPIENT_STATE_ACTIVE
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        )
    )

    await feedback_when(backchannel, answer.feedback.id, all_settled)
    [late] = [r for r in receiver.requests if r.path == "/paused"]
    assert late.headers["webhook-id"] == deliveries["paused"].id


async def test_a_disabled_subscriber_gets_no_delivery(
    backchannel: RunningServer, database_url: str, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(
        backchannel, "disabled", receiver.url, signing_secret,
        state=recipient_pb2.RECIPIENT_STATE_DISABLED,
    )  # fmt: skip
    await create_webhook_recipient(backchannel, "enabled", receiver.url, signing_secret)

    async with server_started_after(database_url) as replica:
        answer = await replica.feedback.SendFeedback(
            SendFeedbackRequest(request_id="sub-1", feedback=brief_example_feedback())
        )

    assert [d.recipient_id for d in answer.deliveries] == ["enabled"]
    assert set(await delivery_states(database_url, answer.feedback.id)) == {"enabled"}


# --- GetFeedback ---------------------------------------------------------------------------


def full_feedback() -> feedback_pb2.Feedback:
    """The brief's example with every field of the message set."""
    feedback = brief_example_feedback()
    feedback.lead.MergeFrom(
        feedback_pb2.LeadReference(
            flow_id="FLOW_1", event_id="EV_1", click_id="gclid-42", transaction_id="TX-9"
        )
    )
    feedback.return_details.MergeFrom(
        feedback_pb2.ReturnDetails(reason_code="DUPLICATE", reason_text="seen before")
    )
    feedback.return_details.return_time.FromJsonString("2024-01-16T08:00:00.123456Z")
    feedback.attribution.sub_ids.update({"sub1": "abc", "sub2": "ünïcode ✓"})
    feedback.consents.add(provider="trustedform", reference="https://cert.example/abc")
    feedback.consents.add(provider="jornaya", reference="LEAD-ID-1")
    feedback.attributes.update(
        {"note": "first contact", "score": 7.5, "vip": True, "nothing": None,
         "nested": {"tags": ["a", "b"], "depth": 2}}
    )  # fmt: skip
    return feedback


async def test_get_feedback_returns_the_feedback_exactly_as_sent(
    backchannel: RunningServer, acme: recipient_pb2.Recipient
) -> None:
    sent = full_feedback()
    answer = await backchannel.feedback.SendFeedback(
        SendFeedbackRequest(request_id="lossless-1", feedback=sent, recipient_ids=["acme"])
    )

    got = await backchannel.feedback.GetFeedback(
        feedback_service_pb2.GetFeedbackRequest(feedback_id=answer.feedback.id)
    )

    assert got.feedback == answer.feedback
    assert got.feedback.request_id == "lossless-1"
    assert got.feedback.id.startswith("fb_")
    assert got.feedback.HasField("accept_time")
    as_sent = feedback_pb2.Feedback()
    as_sent.CopyFrom(got.feedback)
    for output_only in ("id", "accept_time", "request_id"):
        as_sent.ClearField(output_only)  # type: ignore[arg-type]
    assert as_sent == sent


async def test_get_feedback_lists_each_delivery_with_every_attempt_oldest_first(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    flaky_calls: list[Received] = []

    def respond(received: Received) -> web.StreamResponse:
        if received.path == "/flaky":
            flaky_calls.append(received)
            if len(flaky_calls) == 1:
                return web.Response(status=503)
        return web.Response(status=204)

    receiver.respond = respond
    base = f"http://127.0.0.1:{receiver.port}"
    await create_webhook_recipient(backchannel, "flaky", f"{base}/flaky", signing_secret)
    await create_webhook_recipient(backchannel, "steady", f"{base}/steady", signing_secret)
    answer = await backchannel.feedback.SendFeedback(
        SendFeedbackRequest(
            request_id="attempts-1",
            feedback=brief_example_feedback(),
            recipient_ids=["flaky", "steady"],
        )
    )

    got = await feedback_when(backchannel, answer.feedback.id, all_settled)

    deliveries = {d.recipient_id: d for d in got.deliveries}
    assert set(deliveries) == {"flaky", "steady"}
    flaky, steady = deliveries["flaky"], deliveries["steady"]
    assert flaky.attempt_count == 2
    assert [(a.attempt, a.processing_status, a.response_status.code) for a in flaky.attempts] == [
        (1, event_pb2.PROCESSING_STATUS_RETRY_SCHEDULED, 503),
        (2, event_pb2.PROCESSING_STATUS_SUCCEEDED, 204),
    ]
    assert flaky.attempts[0].start_time.ToDatetime() <= flaky.attempts[1].start_time.ToDatetime()
    assert steady.attempt_count == 1
    assert [(a.attempt, a.processing_status) for a in steady.attempts] == [
        (1, event_pb2.PROCESSING_STATUS_SUCCEEDED)
    ]
    for delivery in got.deliveries:
        assert delivery.feedback_id == answer.feedback.id
        assert {(a.delivery_id, a.feedback_id, a.recipient_id) for a in delivery.attempts} == {
            (delivery.id, answer.feedback.id, delivery.recipient_id)
        }
    assert {d.id for d in got.deliveries} == {d.id for d in answer.deliveries}


async def test_get_feedback_of_an_unknown_id_is_not_found(backchannel: RunningServer) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await backchannel.feedback.GetFeedback(
            feedback_service_pb2.GetFeedbackRequest(feedback_id="fb_does_not_exist")
        )

    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.error_info.reason == "FEEDBACK_NOT_FOUND"


# --- health and reflection -----------------------------------------------------------------


@pytest.mark.parametrize(
    "service", ["", "backchannel.v1.FeedbackService", "backchannel.v1.RecipientService"]
)
async def test_health_check_reports_serving(backchannel: RunningServer, service: str) -> None:
    health = health_pb2_grpc.HealthStub(backchannel.channel)

    answer = await health.Check(health_pb2.HealthCheckRequest(service=service))

    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_check_of_an_unknown_service_is_not_found(backchannel: RunningServer) -> None:
    health = health_pb2_grpc.HealthStub(backchannel.channel)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def buf_curl(running: RunningServer, method: str, body: dict[str, Any]) -> dict[str, Any]:
    """Calls ``method`` with the buf CLI, which learns the schema by server reflection."""
    buf = shutil.which("buf")
    assert buf is not None, "the buf CLI (npm @bufbuild/buf) is not on PATH"
    process = await asyncio.create_subprocess_exec(
        buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge",
        "-d", json.dumps(body), f"http://{running.address}/{method}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    answer: dict[str, Any] = json.loads(stdout)
    return answer


async def test_buf_curl_lists_recipients_using_server_reflection(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "beta", receiver.url, signing_secret)
    await create_webhook_recipient(backchannel, "alpha", receiver.url, signing_secret)

    answer = await buf_curl(backchannel, "backchannel.v1.RecipientService/ListRecipients", {})

    assert [r["id"] for r in answer["recipients"]] == ["alpha", "beta"]
    assert answer["recipients"][0]["transport"] == "webhook"
    assert answer["recipients"][0]["secretSettingNames"] == ["signing_secrets"]
    assert signing_secret not in json.dumps(answer)


async def test_buf_curl_sends_the_brief_example_feedback_as_json(
    backchannel: RunningServer, database_url: str, acme: recipient_pb2.Recipient
) -> None:
    body = {
        "requestId": "buf-1",
        "feedback": json_format.MessageToDict(brief_example_feedback()),
        "recipientIds": ["acme"],
    }

    answer = await buf_curl(backchannel, "backchannel.v1.FeedbackService/SendFeedback", body)

    feedback_id = answer["feedback"]["id"]
    assert feedback_id.startswith("fb_")
    assert [d["recipientId"] for d in answer["deliveries"]] == ["acme"]
    stored = await backchannel.feedback.GetFeedback(
        feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
    )
    assert stored.feedback.request_id == "buf-1"
    assert stored.feedback.lead.lead_id == "LC123456789"
    assert stored.feedback.outcome.value.amount == "1250.00"
