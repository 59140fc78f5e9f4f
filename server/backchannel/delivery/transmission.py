"""The two steps of an attempt that touch plugins: render the feedback with the
recipient's formatter, then send it with its transport. Each answers every outcome as a
value; neither records, traces nor times anything (see attempt_interceptors)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from backchannel_client.v1 import feedback_pb2

from backchannel.feedback_document import feedback_document
from backchannel.model import ClaimedDelivery
from backchannel.plugin import DeliveryResult, OutboundMessage, RenderedContent
from backchannel.plugin_host import LoadedPlugins
from backchannel.recipient_transport import PreparedRecipients
from backchannel.telemetry import current_traceparent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    """One attempt to make: the claimed delivery and its feedback, decoded once."""

    claimed: ClaimedDelivery
    feedback: feedback_pb2.Feedback

    @classmethod
    def of(cls, claimed: ClaimedDelivery) -> Attempt:
        return cls(claimed, feedback_pb2.Feedback.FromString(claimed.record))


@dataclass(frozen=True)
class Timing:
    start: datetime
    end: datetime
    latency_us: int


@dataclass(frozen=True)
class TraceIds:
    """The attempt span's ids, hex; empty when the attempt was not traced."""

    trace_id: str = ""
    span_id: str = ""


@dataclass(frozen=True)
class Transmitted:
    """What an attempt came to, before anything is recorded."""

    result: DeliveryResult
    #: What the formatter made; None when it never got so far.
    content: RenderedContent | None = None
    #: The distribution and version of the transport's plugin, when installed.
    plugin: tuple[str, str] = ("", "")
    #: Set by the interceptors around the transmission (attempt_interceptors).
    timing: Timing | None = None
    trace: TraceIds = TraceIds()


def _failure(excerpt: str, *, retryable: bool) -> DeliveryResult:
    return DeliveryResult(succeeded=False, retryable=retryable, response_excerpt=excerpt)


class Transmission:
    """Renders and sends one attempt with the plugins this process loaded."""

    def __init__(
        self, plugins: LoadedPlugins, prepared: PreparedRecipients, send_deadline: float
    ) -> None:
        self._plugins = plugins
        self._prepared = prepared
        self._send_deadline = send_deadline

    async def __call__(self, attempt: Attempt) -> Transmitted:
        recipient = attempt.claimed.recipient
        transport = self._plugins.transports.get(recipient.transport)
        formatter = self._plugins.formatters.get(recipient.format)
        if transport is None or formatter is None:
            missing = recipient.transport if transport is None else recipient.format
            # Retryable: the plugin may be installed on another replica, or later here.
            failure = _failure(f"{missing!r} is not installed on this server", retryable=True)
            return Transmitted(failure)
        origin = self._plugins.origin_of_transport(recipient.transport)
        plugin = (origin.distribution, origin.version)
        document = feedback_document(attempt.feedback)
        try:
            content = formatter.render(document, recipient.format_options)
        except Exception as error:
            log.warning("formatter %s failed: %s", recipient.format, type(error).__name__)
            failure = _failure(f"format {recipient.format!r} failed to render", retryable=False)
            return Transmitted(failure, plugin=plugin)
        claimed = attempt.claimed
        message = OutboundMessage(
            delivery_id=claimed.delivery_id,
            feedback_id=claimed.feedback_id,
            recipient_id=recipient.id,
            attempt=claimed.attempt,
            event_type=f"feedback.{feedback_kind(attempt.feedback)}",
            content=content,
            document=document,
            traceparent=current_traceparent(),
        )
        prepared = self._prepared.get(
            recipient.id,
            recipient.revision,
            transport,
            recipient.transport_settings,
            recipient.secret_settings,
        )
        # Redacted there, before a span, an event or a log line sees it: a transport that
        # forgets to mask cannot leak a secret.
        result = await prepared.send(message, self._send_deadline)
        return Transmitted(result, content, plugin)


def feedback_kind(feedback: feedback_pb2.Feedback) -> str:
    return feedback_pb2.FeedbackKind.Name(feedback.kind).removeprefix("FEEDBACK_KIND_").lower()
