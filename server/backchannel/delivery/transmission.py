"""The two steps of an attempt that touch plugins: render the feedback with the
recipient's formatter, then send it with its transport. Each answers every outcome as a
value; neither records nor traces anything (see attempt_interceptors), and only the
moments the send began and ended are noted, for the protocol's span."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from backchannel_client.v1 import feedback_pb2

from backchannel.consent_gate import missing_purposes
from backchannel.data_policy import DataPolicy, minimized
from backchannel.feedback_document import feedback_document
from backchannel.model import ClaimedDelivery
from backchannel.plugin import (
    ContentRefused,
    DeliveryResult,
    FeedbackDocument,
    OutboundMessage,
    RenderedContent,
    TemplateFailed,
)
from backchannel.plugin_host import LoadedPlugins
from backchannel.recipient_transport import PreparedRecipients
from backchannel.sealing.subjects import SubjectUnreadable, open_subject
from backchannel.telemetry import current_traceparent
from backchannel.untrusted_templates import render_content

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
    #: When the transport's send began and ended (nanoseconds since the epoch); None when
    #: nothing was sent.
    sent: tuple[int, int] | None = None
    #: Not sent for want of consent: the purposes the recipient requires that the feedback
    #: does not grant.
    missing_consent: tuple[str, ...] = ()


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

    def _document(self, attempt: Attempt) -> FeedbackDocument:
        """The feedback document cut to the recipient's data policy: what the formatter,
        its templates and the transport get. The subject is opened only when the policy
        lets some of it through."""
        claimed = attempt.claimed
        policy = DataPolicy.stored(claimed.recipient.data_policy)
        subject = None
        if claimed.subject is not None and policy.subject_access != "excluded":
            subject = open_subject(self._prepared.ring, claimed.feedback_id, claimed.subject)
        return minimized(feedback_document(attempt.feedback), policy, subject)

    async def __call__(self, attempt: Attempt) -> Transmitted:
        recipient = attempt.claimed.recipient
        # First: without the consent it requires, nothing about the lead goes to it at all.
        lacking = missing_purposes(recipient.required_consent_purposes, attempt.feedback)
        if lacking:
            excerpt = f"suppressed: consent not granted for {', '.join(lacking)}"
            return Transmitted(_failure(excerpt, retryable=False), missing_consent=lacking)
        transport = self._plugins.transports.get(recipient.transport)
        formatter = self._plugins.formatters.get(recipient.format)
        if transport is None or formatter is None:
            missing = recipient.transport if transport is None else recipient.format
            # Retryable: the plugin may be installed on another replica, or later here.
            failure = _failure(f"{missing!r} is not installed on this server", retryable=True)
            return Transmitted(failure)
        origin = self._plugins.origin_of_transport(recipient.transport)
        plugin = (origin.distribution, origin.version)
        try:
            document = self._document(attempt)
        except SubjectUnreadable as error:
            # Retryable: the key may be configured on another replica, or after a restart.
            return Transmitted(_failure(str(error), retryable=True), plugin=plugin)
        try:
            content = await render_content(formatter, document, recipient.format_options)
        except TemplateFailed as error:
            failure = _failure(f"format {recipient.format!r}: a template {error}", retryable=False)
            return Transmitted(failure, plugin=plugin)
        except ContentRefused as error:
            failure = _failure(f"format {recipient.format!r} refused it: {error}", retryable=False)
            return Transmitted(failure, plugin=plugin)
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
            tracestate=claimed.tracestate,
        )
        prepared = self._prepared.get(recipient, transport)
        # Redacted there, before a span, an event or a log line sees it: a transport that
        # forgets to mask cannot leak a secret.
        began = time.time_ns()
        result = await prepared.send(message, self._send_deadline)
        return Transmitted(result, content, plugin, sent=(began, time.time_ns()))


def feedback_kind(feedback: feedback_pb2.Feedback) -> str:
    return feedback_pb2.FeedbackKind.Name(feedback.kind).removeprefix("FEEDBACK_KIND_").lower()
