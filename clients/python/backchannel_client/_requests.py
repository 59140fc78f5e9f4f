"""Requests built the same way by the synchronous and the asyncio client."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

from backchannel_client._builders import (
    FeedbackLike,
    RecipientLike,
    as_feedback,
    as_recipient,
)
from backchannel_client._generated.backchannel.v1 import (
    delivery_service_pb2,
    feedback_service_pb2,
    recipient_service_pb2,
    token_service_pb2,
)

#: One item of send_many: a feedback (sent with a new request id and the call's
#: recipients), or a whole request (its own request id, generated when empty, and its own
#: recipients).
SendItem = FeedbackLike | feedback_service_pb2.SendFeedbackRequest


def new_request_id() -> str:
    """A fresh idempotency key."""
    return str(uuid.uuid4())


def send_request(
    feedback: FeedbackLike, recipient_ids: Iterable[str], request_id: str | None
) -> feedback_service_pb2.SendFeedbackRequest:
    return feedback_service_pb2.SendFeedbackRequest(
        request_id=request_id or new_request_id(),
        feedback=as_feedback(feedback),
        recipient_ids=list(recipient_ids),
    )


def send_many_requests(
    items: Iterable[SendItem], recipient_ids: Iterable[str]
) -> list[feedback_service_pb2.SendFeedbackRequest]:
    default_recipients = list(recipient_ids)
    requests = []
    for item in items:
        if isinstance(item, feedback_service_pb2.SendFeedbackRequest):
            request = feedback_service_pb2.SendFeedbackRequest()
            request.CopyFrom(item)
            request.request_id = request.request_id or new_request_id()
        else:
            request = send_request(item, default_recipients, None)
        requests.append(request)
    return requests


def update_request(
    recipient: RecipientLike, update_mask: Iterable[str]
) -> recipient_service_pb2.UpdateRecipientRequest:
    return recipient_service_pb2.UpdateRecipientRequest(
        recipient=as_recipient(recipient),
        update_mask=field_mask_pb2.FieldMask(paths=list(update_mask)),
    )


def test_request(target: str | RecipientLike) -> recipient_service_pb2.TestRecipientRequest:
    if isinstance(target, str):
        return recipient_service_pb2.TestRecipientRequest(recipient_id=target)
    return recipient_service_pb2.TestRecipientRequest(recipient=as_recipient(target))


def recover_request(
    recipient_id: str, start_time: datetime, end_time: datetime, requested_by: str
) -> delivery_service_pb2.RecoverDeliveriesRequest:
    return delivery_service_pb2.RecoverDeliveriesRequest(
        recipient_id=recipient_id,
        start_time=_timestamp(start_time),
        end_time=_timestamp(end_time),
        requested_by=requested_by,
    )


def create_token_request(
    name: str,
    scopes: Iterable[str],
    source_ids: Iterable[str],
    recipient_ids: Iterable[str],
    expires: datetime | timedelta | None,
) -> token_service_pb2.CreateTokenRequest:
    request = token_service_pb2.CreateTokenRequest(
        name=name,
        scopes=list(scopes),
        source_ids=list(source_ids),
        recipient_ids=list(recipient_ids),
    )
    if isinstance(expires, datetime):
        request.expire_time.CopyFrom(_timestamp(expires))
    elif isinstance(expires, timedelta):
        ttl = duration_pb2.Duration()
        ttl.FromTimedelta(expires)
        request.ttl.CopyFrom(ttl)
    return request


def _timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; give an aware datetime")
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp
