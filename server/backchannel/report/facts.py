"""What the report rollups count of one accepted feedback: its hour, value, scores and
return reason, read from the record once, when it is accepted."""

from __future__ import annotations

from datetime import UTC, datetime

from backchannel_client.v1 import feedback_pb2

from backchannel.model import FeedbackFacts

#: Longest return reason counted as written; longer texts are cut.
MAX_REASON_CHARS = 120


def hour_of(moment: datetime) -> datetime:
    """The UTC hour ``moment`` (aware) falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def feedback_facts(feedback: feedback_pb2.Feedback, accept_time: datetime) -> FeedbackFacts:
    """The facts of ``feedback`` (already valid). Its hour is that of its feedback_time
    (when the outcome happened), else of its accept time."""
    when = (
        feedback.feedback_time.ToDatetime(tzinfo=UTC)
        if feedback.HasField("feedback_time")
        else accept_time
    )
    currency = amount = ""
    if feedback.HasField("outcome") and feedback.outcome.HasField("value"):
        currency = feedback.outcome.value.currency_code
        amount = feedback.outcome.value.amount
    scores: list[tuple[str, float]] = []
    if feedback.HasField("quality"):
        quality = feedback.quality
        if quality.HasField("overall_score"):
            scores.append(("", quality.overall_score))
        scores.extend(sorted(dict(quality.dimensions).items()))
    reason = ""
    if feedback.kind == feedback_pb2.FEEDBACK_KIND_RETURN:
        details = feedback.return_details
        reason = (details.reason_code or details.reason_text.strip())[:MAX_REASON_CHARS]
    return FeedbackFacts(
        hour=hour_of(when),
        currency=currency,
        amount=amount,
        scores=tuple(scores),
        return_reason=reason,
    )
