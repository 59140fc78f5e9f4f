"""What send_many answers for each feedback."""

from __future__ import annotations

from dataclasses import dataclass

from backchannel_client._errors import BackchannelError
from backchannel_client._generated.backchannel.v1 import feedback_service_pb2


@dataclass(frozen=True)
class SendResult:
    """The outcome of one feedback of ``send_many``: its request id and either the
    server's answer or the error it ended with (after retries). Errors are returned, not
    raised, so one bad item never hides the others."""

    index: int
    request_id: str
    response: feedback_service_pb2.SendFeedbackResponse | None = None
    error: BackchannelError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def feedback_id(self) -> str:
        """The id the server gave the feedback; empty when it failed."""
        return self.response.feedback.id if self.response is not None else ""
