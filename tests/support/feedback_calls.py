"""FeedbackService calls many end-to-end tests make: send the brief's example, wait for
the event of a feedback's delivery, and list every event page by page."""

from __future__ import annotations

import asyncio

from backchannel_client.v1 import event_pb2, feedback_service_pb2

from support.brief_example import brief_example_feedback
from support.in_process_server import RunningServer


async def send_feedback(
    running: RunningServer,
    request_id: str,
    recipient_ids: list[str],
    lead_id: str | None = None,
    source_id: str | None = None,
) -> feedback_service_pb2.SendFeedbackResponse:
    """Sends the brief's example feedback, about ``lead_id`` and ``source_id`` if given."""
    feedback = brief_example_feedback()
    if lead_id is not None:
        feedback.lead.lead_id = lead_id
    if source_id is not None:
        feedback.lead.source_id = source_id
    answer: feedback_service_pb2.SendFeedbackResponse = await running.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id=request_id, feedback=feedback, recipient_ids=recipient_ids
        )
    )
    return answer


async def wait_for_event(
    running: RunningServer, feedback_id: str, timeout: float = 10.0
) -> event_pb2.FeedbackSentEvent:
    """The latest attempt recorded for the feedback, once there is one (GetFeedback,
    polled)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await running.feedback.GetFeedback(
            feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
        )
        attempts = [a for d in got.deliveries for a in d.attempts]
        if attempts:
            return attempts[-1]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("no event recorded")
        await asyncio.sleep(0.05)


async def list_all_events(
    running: RunningServer, filter_text: str = ""
) -> list[event_pb2.FeedbackSentEvent]:
    """Every event ListFeedbackEvents returns for ``filter_text``, all pages."""
    events: list[event_pb2.FeedbackSentEvent] = []
    token = ""
    while True:
        page = await running.feedback.ListFeedbackEvents(
            feedback_service_pb2.ListFeedbackEventsRequest(
                page_size=1000, page_token=token, filter=filter_text
            )
        )
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events
