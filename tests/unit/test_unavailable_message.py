"""An outage's answer says what it means for the method called: SendFeedback's outage
stored nothing (a commit that may have landed is resolved before answering), a read
changed nothing, and any other write may have been committed as the connection was lost,
so "nothing was stored" would be false there."""

from __future__ import annotations

import pytest

from backchannel.api.interceptors.error_mapping import unavailable_message


def test_send_feedback_says_nothing_was_stored_and_to_retry_with_its_request_id() -> None:
    message = unavailable_message("/backchannel.v1.FeedbackService/SendFeedback")
    assert "nothing was stored" in message and "request_id" in message


@pytest.mark.parametrize(
    "method",
    [
        "/backchannel.v1.FeedbackService/GetFeedback",
        "/backchannel.v1.FeedbackService/ListFeedbackEvents",
        "/backchannel.v1.FeedbackService/StreamFeedbackEvents",
        "/backchannel.v1.RecipientService/ListRecipients",
    ],
)
def test_a_read_says_only_to_retry(method: str) -> None:
    assert unavailable_message(method) == "the database is unavailable; retry"


@pytest.mark.parametrize(
    "method",
    [
        "/backchannel.v1.RecipientService/CreateRecipient",
        "/backchannel.v1.RecipientService/UpdateRecipient",
        "/backchannel.v1.DeliveryService/ResendFeedback",
        "/backchannel.v1.DeliveryService/RetryDelivery",
        "/backchannel.v1.TokenService/CreateToken",
    ],
)
def test_another_write_never_claims_nothing_was_stored(method: str) -> None:
    message = unavailable_message(method)
    assert "nothing was stored" not in message and "request_id" not in message
    assert "read it back" in message
