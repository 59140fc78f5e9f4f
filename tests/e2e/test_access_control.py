"""Access control, probed as an attacker would: a real server requiring credentials (auth
on, loopback), real Postgres, tokens made the way operators make them. No credentials, a
malformed header, an unknown, expired or revoked token; a token for another source or
recipient; a token without the scope; a caller trying to hand on more than it holds. And
what a narrower grant sees: less, never an error, never a hint of what exists."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import grpc
import pytest
from backchannel_client.v1 import (
    delivery_service_pb2,
    feedback_service_pb2,
    recipient_pb2,
    recipient_service_pb2,
    token_service_pb2,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.access import Calls, Secured, bearer, new_token
from support.brief_example import brief_example_feedback
from support.polling import eventually
from support.receiver import WebhookReceiver
from support.recorded_spans import recorded_spans
from support.rpc_errors import rich_error

from backchannel.token_secrets import new_token_text

SOURCE_A, SOURCE_B = "SOURCE_A", "SOURCE_B"


@pytest.fixture
async def secured(secured: Secured, receiver: WebhookReceiver, signing_secret: str) -> Secured:
    """The secured server (conftest's) with recipients "acme" and "beta" delivering to a
    real receiver."""
    for recipient_id in ("acme", "beta"):
        recipient = recipient_pb2.Recipient(
            id=recipient_id,
            recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE,
            transport="webhook",
        )
        recipient.transport_settings.update({"url": receiver.url})
        recipient.secret_settings.update({"signing_secrets": signing_secret})
        await secured.admin.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
        )
    return secured


def send_request(
    request_id: str, source_id: str, recipient_ids: list[str]
) -> feedback_service_pb2.SendFeedbackRequest:
    feedback = brief_example_feedback()
    feedback.lead.source_id = source_id
    feedback.lead.lead_id = f"LEAD_{request_id}"
    return feedback_service_pb2.SendFeedbackRequest(
        request_id=request_id, feedback=feedback, recipient_ids=recipient_ids
    )


async def refused(call: object) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """The code, ErrorInfo reason and metadata a call fails with."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    error = rich_error(caught.value)
    return error.code, error.error_info.reason, dict(error.error_info.metadata)


# --- who is calling -------------------------------------------------------------------------


async def test_a_call_without_credentials_is_unauthenticated(secured: Secured) -> None:
    anonymous = secured.as_token(None)

    code, reason, _ = await refused(
        anonymous.feedback.SendFeedback(send_request("r1", SOURCE_A, ["acme"]))
    )
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "CREDENTIALS_MISSING")
    stream = anonymous.feedback.StreamFeedbackEvents(
        feedback_service_pb2.StreamFeedbackEventsRequest(from_beginning=True)
    )
    code, reason, _ = await refused(stream.read())
    assert code == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-token",
        "bck_" + "A" * 43,  # no scheme
        "Bearer bck_" + "A" * 42,  # one character short
        "Bearer bck_" + "A" * 43 + " extra",
    ],
)
async def test_a_malformed_authorization_header_is_unauthenticated(
    secured: Secured, header: str
) -> None:
    call = secured.running.recipients.ListRecipients(
        recipient_service_pb2.ListRecipientsRequest(), metadata=(("authorization", header),)
    )
    code, reason, metadata = await refused(call)

    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "CREDENTIALS_MALFORMED")
    assert not metadata


async def test_two_authorization_headers_are_refused(secured: Secured) -> None:
    call = secured.running.recipients.ListRecipients(
        recipient_service_pb2.ListRecipientsRequest(),
        metadata=bearer(secured.admin_token.text) + bearer(new_token_text()),
    )
    code, reason, _ = await refused(call)

    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "CREDENTIALS_MALFORMED")


async def test_an_unknown_token_is_unauthenticated_and_its_text_is_not_echoed(
    secured: Secured,
) -> None:
    forged = new_token_text()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await secured.as_token(forged).recipients.ListRecipients(
            recipient_service_pb2.ListRecipientsRequest()
        )

    error = rich_error(caught.value)
    assert (error.code, error.error_info.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_INVALID",
    )
    assert forged not in error.serialized().decode(errors="replace")


async def test_an_expired_token_is_refused(secured: Secured) -> None:
    short_lived = await new_token(
        secured.admin, "short", ["recipients:read"], ttl=timedelta(seconds=1)
    )
    calls = secured.as_token(short_lived)
    await calls.recipients.ListRecipients(recipient_service_pb2.ListRecipientsRequest())

    async def refused_now() -> bool:
        try:
            await calls.recipients.ListRecipients(recipient_service_pb2.ListRecipientsRequest())
        except grpc.aio.AioRpcError as error:
            return rich_error(error).error_info.reason == "TOKEN_INVALID"
        return False

    assert await eventually(refused_now, timeout=10)


async def test_a_revoked_token_is_refused_at_once_by_the_server_that_revoked_it(
    secured: Secured,
) -> None:
    token = await new_token(secured.admin, "doomed", ["recipients:read"])
    calls = secured.as_token(token)
    await calls.recipients.ListRecipients(recipient_service_pb2.ListRecipientsRequest())

    await secured.admin.tokens.RevokeToken(token_service_pb2.RevokeTokenRequest(token_id=token.id))

    async def refused_now() -> bool:
        try:
            await calls.recipients.ListRecipients(recipient_service_pb2.ListRecipientsRequest())
        except grpc.aio.AioRpcError as error:
            return error.code() == grpc.StatusCode.UNAUTHENTICATED
        return False

    # Well inside the token cache's 5 s: the revocation's NOTIFY drops it.
    assert await eventually(refused_now, timeout=3)


async def test_health_needs_no_credentials(secured: Secured) -> None:
    answer = await health_pb2_grpc.HealthStub(secured.running.channel).Check(
        health_pb2.HealthCheckRequest()
    )

    assert answer.status == health_pb2.HealthCheckResponse.SERVING


# --- what it may do -------------------------------------------------------------------------


async def test_a_caller_without_the_scope_is_denied_naming_the_scope(secured: Secured) -> None:
    reader = secured.as_token(await new_token(secured.admin, "reader", ["feedback:read"]))

    code, reason, metadata = await refused(
        reader.feedback.SendFeedback(send_request("r1", SOURCE_A, ["acme"]))
    )

    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_MISSING")
    assert metadata == {"scope": "feedback:send"}


async def test_denials_say_the_same_whether_or_not_the_recipient_exists(secured: Secured) -> None:
    writer = secured.as_token(
        await new_token(secured.admin, "acme-only", ["recipients:write"], recipients=["acme"])
    )

    existing = await refused(
        writer.recipients.DeleteRecipient(
            recipient_service_pb2.DeleteRecipientRequest(recipient_id="beta")
        )
    )
    missing = await refused(
        writer.recipients.DeleteRecipient(
            recipient_service_pb2.DeleteRecipientRequest(recipient_id="nobody")
        )
    )

    assert (
        existing[:2] == missing[:2] == (grpc.StatusCode.PERMISSION_DENIED, "RECIPIENT_NOT_GRANTED")
    )


async def test_sending_feedback_of_another_source_is_permission_denied(secured: Secured) -> None:
    sender = secured.as_token(
        await new_token(secured.admin, "a-sender", ["feedback:send"], sources=[SOURCE_A])
    )

    await sender.feedback.SendFeedback(send_request("own", SOURCE_A, ["acme"]))
    code, reason, _ = await refused(
        sender.feedback.SendFeedback(send_request("other", SOURCE_B, ["acme"]))
    )

    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SOURCE_NOT_GRANTED")


async def test_naming_a_recipient_outside_the_grant_is_permission_denied(secured: Secured) -> None:
    token = await new_token(
        secured.admin,
        "acme-operator",
        ["feedback:send", "deliveries:operate"],
        recipients=["acme"],
    )
    calls = secured.as_token(token)
    sent = await secured.admin.feedback.SendFeedback(send_request("f1", SOURCE_A, ["acme"]))

    send = await refused(calls.feedback.SendFeedback(send_request("f2", SOURCE_A, ["beta"])))
    resend = await refused(
        calls.deliveries.ResendFeedback(
            delivery_service_pb2.ResendFeedbackRequest(
                feedback_id=sent.feedback.id, recipient_id="beta"
            )
        )
    )

    for code, reason, _ in (send, resend):
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "RECIPIENT_NOT_GRANTED")


async def test_a_narrower_reader_sees_only_its_sources_feedback(secured: Secured) -> None:
    a = await secured.admin.feedback.SendFeedback(send_request("a", SOURCE_A, ["acme"]))
    b = await secured.admin.feedback.SendFeedback(send_request("b", SOURCE_B, ["acme"]))
    reader = secured.as_token(
        await new_token(secured.admin, "a-reader", ["feedback:read"], sources=[SOURCE_A])
    )
    await _events_of(secured.admin, {a.feedback.id, b.feedback.id})

    got = await reader.feedback.GetFeedback(
        feedback_service_pb2.GetFeedbackRequest(feedback_id=a.feedback.id)
    )
    other = await refused(
        reader.feedback.GetFeedback(
            feedback_service_pb2.GetFeedbackRequest(feedback_id=b.feedback.id)
        )
    )
    missing = await refused(
        reader.feedback.GetFeedback(feedback_service_pb2.GetFeedbackRequest(feedback_id="fb_nope"))
    )
    listed = await reader.feedback.ListFeedbackEvents(
        feedback_service_pb2.ListFeedbackEventsRequest(page_size=1000)
    )
    streamed = await _streamed_until_heartbeat(reader)

    assert got.feedback.id == a.feedback.id
    assert other[:2] == missing[:2] == (grpc.StatusCode.NOT_FOUND, "FEEDBACK_NOT_FOUND")
    assert {e.feedback_id for e in listed.events} == {a.feedback.id}
    assert streamed == {a.feedback.id}


async def test_a_reader_narrowed_to_recipients_sees_only_their_deliveries(
    secured: Secured,
) -> None:
    both = await secured.admin.feedback.SendFeedback(send_request("ab", SOURCE_A, ["acme", "beta"]))
    only_beta = await secured.admin.feedback.SendFeedback(send_request("b", SOURCE_A, ["beta"]))
    await _events_of(secured.admin, {both.feedback.id, only_beta.feedback.id}, per_feedback=1)
    reader = secured.as_token(
        await new_token(secured.admin, "acme-reader", ["feedback:read"], recipients=["acme"])
    )

    got = await reader.feedback.GetFeedback(
        feedback_service_pb2.GetFeedbackRequest(feedback_id=both.feedback.id)
    )
    hidden = await refused(
        reader.feedback.GetFeedback(
            feedback_service_pb2.GetFeedbackRequest(feedback_id=only_beta.feedback.id)
        )
    )
    listed = await reader.feedback.ListFeedbackEvents(
        feedback_service_pb2.ListFeedbackEventsRequest(page_size=1000)
    )

    assert [d.recipient_id for d in got.deliveries] == ["acme"]
    assert hidden[:2] == (grpc.StatusCode.NOT_FOUND, "FEEDBACK_NOT_FOUND")
    assert {e.recipient_id for e in listed.events} == {"acme"}


async def test_a_reader_narrowed_to_recipients_lists_and_gets_only_those(secured: Secured) -> None:
    reader = secured.as_token(
        await new_token(secured.admin, "acme-viewer", ["recipients:read"], recipients=["acme"])
    )

    listed = await reader.recipients.ListRecipients(recipient_service_pb2.ListRecipientsRequest())
    beta = await refused(
        reader.recipients.GetRecipient(
            recipient_service_pb2.GetRecipientRequest(recipient_id="beta")
        )
    )
    nobody = await refused(
        reader.recipients.GetRecipient(
            recipient_service_pb2.GetRecipientRequest(recipient_id="nobody")
        )
    )

    assert [r.id for r in listed.recipients] == ["acme"]
    assert beta[:2] == nobody[:2] == (grpc.StatusCode.NOT_FOUND, "RECIPIENT_NOT_FOUND")


async def test_a_source_narrowed_writer_cannot_subscribe_a_recipient_to_other_sources(
    secured: Secured,
) -> None:
    writer = secured.as_token(
        await new_token(secured.admin, "a-writer", ["recipients:write"], sources=[SOURCE_A])
    )
    recipient = recipient_pb2.Recipient(
        id="sniffer", recipient_type=recipient_pb2.RECIPIENT_TYPE_SOURCE, transport="webhook"
    )
    recipient.transport_settings.update({"url": "http://127.0.0.1:9/x"})

    every_source = await refused(
        writer.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
        )
    )
    recipient.subscription.source_ids.append(SOURCE_A)
    created = await writer.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
    )

    assert every_source[:2] == (grpc.StatusCode.PERMISSION_DENIED, "SOURCE_NOT_GRANTED")
    assert list(created.recipient.subscription.source_ids) == [SOURCE_A]


# --- handing on what one holds ----------------------------------------------------------------


async def test_only_tokens_admin_may_create_tokens(secured: Secured) -> None:
    sender = secured.as_token(await new_token(secured.admin, "sender", ["feedback:send"]))

    code, reason, metadata = await refused(
        sender.tokens.CreateToken(
            token_service_pb2.CreateTokenRequest(name="mine", scopes=["feedback:send"])
        )
    )

    assert (code, reason, metadata) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "SCOPE_MISSING",
        {"scope": "tokens:admin"},
    )


@pytest.mark.parametrize(
    ("scopes", "sources", "recipients"),
    [
        (["feedback:send"], [SOURCE_A], []),  # a scope it does not hold
        (["feedback:read"], [], []),  # every source, holding one
        (["feedback:read"], [SOURCE_B], []),  # another source
        (["feedback:read"], [SOURCE_A], ["beta"]),  # another recipient
        (["tokens:admin", "feedback:read", "audit:read"], [SOURCE_A], []),
    ],
)
async def test_a_caller_cannot_hand_on_more_than_it_holds(
    secured: Secured, scopes: list[str], sources: list[str], recipients: list[str]
) -> None:
    narrow_admin = secured.as_token(
        await new_token(
            secured.admin,
            "a-admin",
            ["tokens:admin", "feedback:read"],
            sources=[SOURCE_A],
            recipients=["acme"],
        )
    )

    code, reason, _ = await refused(
        narrow_admin.tokens.CreateToken(
            token_service_pb2.CreateTokenRequest(
                name="escalated", scopes=scopes, source_ids=sources, recipient_ids=recipients
            )
        )
    )

    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "GRANT_EXCEEDS_CALLER")


async def test_a_caller_may_hand_on_part_of_what_it_holds(secured: Secured) -> None:
    narrow_admin = secured.as_token(
        await new_token(
            secured.admin,
            "a-admin",
            ["tokens:admin", "feedback:read"],
            sources=[SOURCE_A, SOURCE_B],
        )
    )

    made = await narrow_admin.tokens.CreateToken(
        token_service_pb2.CreateTokenRequest(
            name="a-reader", scopes=["feedback:read"], source_ids=[SOURCE_A]
        )
    )
    listed = await narrow_admin.tokens.ListTokens(token_service_pb2.ListTokensRequest())

    assert made.secret.startswith("bck_")
    # It sees the tokens it could have made (its own and the new one), not the admin's.
    assert {t.name for t in listed.tokens} == {"a-admin", "a-reader"}
    denied = await refused(
        narrow_admin.tokens.RevokeToken(
            token_service_pb2.RevokeTokenRequest(token_id=secured.admin_token.id)
        )
    )
    assert denied[:2] == (grpc.StatusCode.NOT_FOUND, "TOKEN_NOT_FOUND")


async def test_token_listings_never_hold_the_token_text(secured: Secured) -> None:
    made = await secured.admin.tokens.CreateToken(
        token_service_pb2.CreateTokenRequest(name="listed", scopes=["feedback:read"])
    )

    listed = await secured.admin.tokens.ListTokens(
        token_service_pb2.ListTokensRequest(show_revoked=True)
    )

    assert made.secret.encode() not in listed.SerializeToString()
    assert secured.admin_token.text.encode() not in listed.SerializeToString()
    assert made.token.id in {t.id for t in listed.tokens}


# --- operator identity ----------------------------------------------------------------------


async def test_an_operator_action_records_the_authenticated_identity_not_the_typed_name(
    secured: Secured, receiver: WebhookReceiver
) -> None:
    sent = await secured.admin.feedback.SendFeedback(send_request("op", SOURCE_A, ["acme"]))
    operator = await new_token(
        secured.admin, "night-shift", ["deliveries:operate", "feedback:read"]
    )
    calls = secured.as_token(operator)
    await _events_of(secured.admin, {sent.feedback.id})

    await calls.deliveries.RetryDelivery(
        delivery_service_pb2.RetryDeliveryRequest(
            delivery_id=sent.deliveries[0].id, requested_by="the CEO"
        )
    )

    async def retried_attempt() -> object:
        got = await calls.feedback.GetFeedback(
            feedback_service_pb2.GetFeedbackRequest(feedback_id=sent.feedback.id)
        )
        attempts = got.deliveries[0].attempts
        return attempts[-1] if len(attempts) >= 2 else None

    attempt = await eventually(retried_attempt, timeout=15)
    assert attempt.requested_by == f"night-shift ({operator.id})"  # type: ignore[attr-defined]


async def _events_of(calls: Calls, feedback_ids: set[str], per_feedback: int = 1) -> None:
    """Waits until every feedback of ``feedback_ids`` has an event per delivery."""

    async def recorded() -> bool:
        listed = await calls.feedback.ListFeedbackEvents(
            feedback_service_pb2.ListFeedbackEventsRequest(page_size=1000)
        )
        seen: dict[str, int] = {}
        for event in listed.events:
            seen[event.feedback_id] = seen.get(event.feedback_id, 0) + 1
        return all(seen.get(f, 0) >= per_feedback for f in feedback_ids)

    await eventually(recorded, timeout=15)


async def _streamed_until_heartbeat(calls: Calls) -> set[str]:
    """The feedback ids a stream from the beginning replays before its first heartbeat."""
    stream = calls.feedback.StreamFeedbackEvents(
        feedback_service_pb2.StreamFeedbackEventsRequest(from_beginning=True)
    )
    seen: set[str] = set()
    try:
        async with asyncio.timeout(15):
            async for item in stream:
                if item.HasField("heartbeat"):
                    return seen
                seen.add(item.event.feedback_id)
    finally:
        stream.cancel()
    return seen


async def test_no_token_text_reaches_logs_spans_or_errors(
    secured: Secured, caplog: pytest.LogCaptureFixture
) -> None:
    forged = new_token_text()
    made = await new_token(secured.admin, "logged", ["feedback:read"])
    caplog.set_level(logging.DEBUG)
    with recorded_spans() as spans:
        answers = []
        for token in (made.text, forged, f"{made.text}x"):
            try:
                await secured.as_token(token).recipients.ListRecipients(
                    recipient_service_pb2.ListRecipientsRequest()
                )
            except grpc.aio.AioRpcError as error:
                answers.append(rich_error(error).serialized())
        await secured.admin.tokens.RevokeToken(
            token_service_pb2.RevokeTokenRequest(token_id=made.id)
        )
        exported = [str(span.to_json()) for span in await eventually(lambda: _finished(spans, 4))]

    assert len(answers) == 3  # no scope; unknown; malformed
    for text in (made.text, forged, secured.admin_token.text):
        assert text not in caplog.text
        assert all(text not in span for span in exported)
        assert all(text.encode() not in answer for answer in answers)


async def _finished(spans: Any, count: int) -> list[Any] | None:
    finished = list(spans.get_finished_spans())
    return finished if len(finished) >= count else None
