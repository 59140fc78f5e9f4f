"""Many SendFeedback calls at once, every answer counted: which request ids were
acknowledged (OK) and which failed with what code, and re-sending the failed ones with
the same request id until they are acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import grpc
from backchannel_client.v1 import feedback_pb2, feedback_service_pb2, feedback_service_pb2_grpc

Request = feedback_service_pb2.SendFeedbackRequest
Answer = feedback_service_pb2.SendFeedbackResponse

#: Longest any one SendFeedback call may take.
CALL_TIMEOUT = 10.0


def numbered_requests(
    prefix: str, count: int, feedback: feedback_pb2.Feedback, recipient_ids: Sequence[str]
) -> list[Request]:
    """``count`` requests for ``feedback``, with request ids ``{prefix}-0``, ``{prefix}-1``..."""
    return [
        Request(request_id=f"{prefix}-{i}", feedback=feedback, recipient_ids=recipient_ids)
        for i in range(count)
    ]


@dataclass
class SendOutcomes:
    #: request_id -> the answer, for every request answered OK.
    acknowledged: dict[str, Answer] = field(default_factory=dict)
    #: request_id -> the code of its latest failed call, while it has no OK answer.
    failed: dict[str, grpc.StatusCode] = field(default_factory=dict)

    def delivery_ids(self) -> set[str]:
        return {d.id for answer in self.acknowledged.values() for d in answer.deliveries}

    def record(self, request_id: str, answer: Answer | grpc.StatusCode) -> None:
        if isinstance(answer, grpc.StatusCode):
            if request_id not in self.acknowledged:
                self.failed[request_id] = answer
        else:
            self.acknowledged[request_id] = answer
            self.failed.pop(request_id, None)


async def send_once(
    stub: feedback_service_pb2_grpc.FeedbackServiceStub, request: Request
) -> Answer | grpc.StatusCode:
    """The answer, or the status code the call failed with."""
    try:
        answer: Answer = await stub.SendFeedback(request, timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return answer


async def send_all(
    stub: feedback_service_pb2_grpc.FeedbackServiceStub,
    requests: Iterable[Request],
    concurrency: int,
    outcomes: SendOutcomes,
) -> None:
    """Sends every request once, ``concurrency`` at a time, recording each answer."""
    pending = iter(requests)

    async def worker() -> None:
        for request in pending:
            outcomes.record(request.request_id, await send_once(stub, request))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def resend_until_acknowledged(
    stub: feedback_service_pb2_grpc.FeedbackServiceStub,
    requests: Sequence[Request],
    outcomes: SendOutcomes,
    timeout: float,
    concurrency: int = 16,
) -> bool:
    """Re-sends every request of ``requests`` that failed, with its own request id, until
    each is acknowledged (True) or ``timeout`` seconds have passed (False)."""
    by_id = {r.request_id: r for r in requests}
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        unanswered = [by_id[i] for i in outcomes.failed if i in by_id]
        if not unanswered:
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await send_all(stub, unanswered, concurrency, outcomes)
        if outcomes.failed:
            await asyncio.sleep(0.2)
