"""Backchannel's Python client: send lead feedback and follow what became of it.

    from backchannel_client import Client

    with Client("127.0.0.1:50051") as client:
        answer = client.send_feedback(feedback, recipient_ids=["acme-leads"])
        for event in client.follow_events(from_beginning=True):
            ...

Every message type is in ``backchannel_client.v1``; the most used are re-exported here.
"""

from backchannel_client._async import AsyncClient, AsyncEventStream
from backchannel_client._builders import (
    build_feedback,
    feedback_from_dict,
    feedback_kind,
    recipient_from_dict,
)
from backchannel_client._errors import (
    AbortedError,
    AlreadyExistsError,
    BackchannelError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from backchannel_client._generated.backchannel.v1.event_pb2 import (
    FeedbackSentEvent,
    OperatorEvent,
)
from backchannel_client._generated.backchannel.v1.feedback_pb2 import (
    Feedback,
    LeadReference,
    Money,
    Outcome,
)
from backchannel_client._generated.backchannel.v1.feedback_service_pb2 import (
    Delivery,
    EventFilter,
    GetFeedbackResponse,
    SendFeedbackRequest,
    SendFeedbackResponse,
)
from backchannel_client._generated.backchannel.v1.recipient_pb2 import Recipient
from backchannel_client._generated.backchannel.v1.recipient_service_pb2 import (
    TestRecipientResponse,
)
from backchannel_client._options import DEFAULT_TARGET, RetrySettings
from backchannel_client._requests import new_request_id
from backchannel_client._results import SendResult
from backchannel_client._sync import Client, EventStream

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TARGET",
    "AbortedError",
    "AlreadyExistsError",
    "AsyncClient",
    "AsyncEventStream",
    "BackchannelError",
    "Client",
    "DeadlineExceededError",
    "Delivery",
    "EventFilter",
    "EventStream",
    "FailedPreconditionError",
    "Feedback",
    "FeedbackSentEvent",
    "FieldViolation",
    "GetFeedbackResponse",
    "InvalidArgumentError",
    "LeadReference",
    "Money",
    "NotFoundError",
    "OperatorEvent",
    "OutOfRangeError",
    "Outcome",
    "PermissionDeniedError",
    "Recipient",
    "ResourceExhaustedError",
    "RetrySettings",
    "SendFeedbackRequest",
    "SendFeedbackResponse",
    "SendResult",
    "TestRecipientResponse",
    "UnauthenticatedError",
    "UnavailableError",
    "__version__",
    "build_feedback",
    "feedback_from_dict",
    "feedback_kind",
    "new_request_id",
    "recipient_from_dict",
]
