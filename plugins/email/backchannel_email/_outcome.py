"""How one email attempt ended, as a :class:`DeliveryResult` (the host masks the password,
in every spelling, should a server echo it).

SMTP reply classes decide retries: 4xx is transient, 5xx permanent. Failures that no reply
explains are retryable (connection refused or reset, DNS, timeouts), except those that
trying again cannot cure: a refused destination address, TLS that cannot be established or
verified, a server that offers no STARTTLS or no AUTH.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import aiosmtplib

from backchannel.plugin import DeliveryResult
from backchannel.plugin_support import EXCERPT_CHARS, DestinationRefused, SentBytes

from ._settings import EmailSettings

MAX_REMOTE_ID_CHARS: Final = 256
#: How SMTP servers name the queue entry in the reply to DATA: Postfix and Sendmail
#: ("queued as 4Q7..."), Exim ("id=1r..."), Exchange ("<id> Queued mail for delivery").
_QUEUE_ID = (
    re.compile(r"queued as\s+<?([A-Za-z0-9][A-Za-z0-9._@=-]*)>?", re.IGNORECASE),
    re.compile(r"\bid=<?([A-Za-z0-9][A-Za-z0-9._@=-]*)>?", re.IGNORECASE),
    re.compile(r"<([^<>\s]+)>.*\bqueued\b", re.IGNORECASE),
)

#: Steps of an attempt, in the words probe and results use.
CONNECT: Final = "connect"
TLS: Final = "tls"
LOGIN: Final = "login"
SENDER: Final = "sender"
SEND: Final = "send"
_DOING: Final[Mapping[str, str]] = {
    CONNECT: "connecting",
    TLS: "setting up TLS",
    LOGIN: "logging in",
    SENDER: "checking the sender and recipients",
    SEND: "sending the message",
}


@dataclass(frozen=True)
class Failure:
    """What went wrong, at which step, and whether trying again may help."""

    step: str
    description: str
    retryable: bool
    remote_code: int | None = None
    details: Mapping[str, str] = field(default_factory=dict)


def queue_id(reply: str) -> str | None:
    """The queue id a server gave the message in its reply to DATA, when it gave one."""
    for pattern in _QUEUE_ID:
        found = pattern.search(reply)
        if found:
            return found.group(1)[:MAX_REMOTE_ID_CHARS]
    return None


def is_transient(code: int) -> bool:
    return 400 <= code <= 499


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"


def describe_refused(refused: Mapping[str, aiosmtplib.SMTPResponse]) -> str:
    return ", ".join(f"{address} ({_reply(*reply)})" for address, reply in refused.items())


def sent_result(
    settings: EmailSettings,
    *,
    reply: str,
    refused: Mapping[str, aiosmtplib.SMTPResponse],
    sent: SentBytes,
    notes: Mapping[str, str],
) -> DeliveryResult:
    """The result of a message the server accepted for at least one recipient."""
    details = dict(notes)
    excerpt = _reply(250, reply)
    if refused:
        recipients = settings.mail.envelope_recipients
        accepted = len(recipients) - len(refused)
        details["refused_recipients"] = describe_refused(refused)
        details["accepted_recipients"] = str(accepted)
        excerpt = (
            f"accepted for {accepted} of {len(recipients)} recipients; refused: "
            f"{describe_refused(refused)}"
        )
        details["reply"] = _reply(250, reply)[:EXCERPT_CHARS]
    return sent.reported(
        DeliveryResult(
            succeeded=True,
            remote_code=250,
            remote_id=queue_id(reply),
            response_excerpt=excerpt[:EXCERPT_CHARS],
            details=details,
        )
    )


def failure_result(failure: Failure) -> DeliveryResult:
    return DeliveryResult(
        succeeded=False,
        retryable=failure.retryable,
        remote_code=failure.remote_code,
        response_excerpt=failure.description[:EXCERPT_CHARS],
        details=dict(failure.details),
    )


def describe_failure(
    error: BaseException,
    step: str,
    settings: EmailSettings,
    *,
    connect_timeout: float,
    timeout: float,
) -> Failure:
    """What an exception raised at ``step`` means for the attempt, in an operator's words."""
    server = settings.server
    target = server.target
    tls_error = _ssl_error(error)
    if tls_error is not None:
        step = TLS
    details = {"error": type(error).__name__, "step": step}

    def failure(description: str, retryable: bool, code: int | None = None) -> Failure:
        return Failure(step, description, retryable, code, details)

    if isinstance(error, DestinationRefused):
        return failure(str(error), False)
    if tls_error is not None:
        return failure(*_describe_tls(tls_error, target))
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        refused = {
            each.recipient: aiosmtplib.SMTPResponse(each.code, each.message)
            for each in error.recipients
        }
        transient = [each.code for each in error.recipients if is_transient(each.code)]
        code = transient[0] if transient else error.recipients[-1].code
        details["refused_recipients"] = describe_refused(refused)
        return failure(
            f"{target} refused every recipient: {describe_refused(refused)}", bool(transient), code
        )
    if isinstance(error, aiosmtplib.SMTPResponseException):
        reply = _reply(error.code, error.message)
        return failure(
            _describe_reply(error, step, target, server.username, reply),
            is_transient(error.code),
            error.code,
        )
    if isinstance(error, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors too
        if step == CONNECT:
            return failure(f"timed out connecting to {target} (after {connect_timeout:g} s)", True)
        return failure(
            f"timed out {_DOING.get(step, step)} with {target} (after {timeout:g} s)", True
        )
    if isinstance(error, socket.gaierror):
        return failure(f"DNS lookup for {server.host} failed", True)
    if isinstance(error, aiosmtplib.SMTPServerDisconnected):
        return failure(f"{target} closed the connection while {_DOING.get(step, step)}", True)
    if isinstance(error, aiosmtplib.SMTPConnectError):
        return failure(f"cannot connect to {target}: {_os_reason(error)}", True)
    if isinstance(error, aiosmtplib.SMTPNotSupported):
        return failure(f"{target} does not support what the message needs: {error.message}", False)
    if isinstance(error, aiosmtplib.SMTPException) and step == TLS:
        return failure(
            f"{target} does not offer STARTTLS: refusing to send anything without TLS", False
        )
    if isinstance(error, aiosmtplib.SMTPException) and step == LOGIN:
        return failure(f"{target} does not offer AUTH: cannot log in", False)
    if isinstance(error, OSError) and step == CONNECT:
        return failure(f"cannot connect to {target}: {_os_reason(error)}", True)
    if isinstance(error, ValueError):
        return failure(f"the message cannot be sent: {error}", False)
    return failure(f"{_DOING.get(step, step)} with {target} failed: {_os_reason(error)}", True)


def _describe_reply(
    error: aiosmtplib.SMTPResponseException,
    step: str,
    target: str,
    username: str | None,
    reply: str,
) -> str:
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return f"{target} refused the login for {username}: {reply}"
    if isinstance(error, aiosmtplib.SMTPSenderRefused):
        return f"{target} refused the sender {error.sender}: {reply}"
    if isinstance(error, aiosmtplib.SMTPRecipientRefused):
        return f"{target} refused the recipient {error.recipient}: {reply}"
    if isinstance(error, aiosmtplib.SMTPDataError):
        return f"{target} refused the message: {reply}"
    if isinstance(error, aiosmtplib.SMTPConnectResponseError):
        return f"{target} refused the connection: {reply}"
    if isinstance(error, aiosmtplib.SMTPHeloError):
        return f"{target} refused EHLO: {reply}"
    if step == TLS:
        return f"{target} refused STARTTLS: {reply}"
    return f"{target} answered {reply} while {_DOING.get(step, step)}"


def _ssl_error(error: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``error``, if one is (aiosmtplib wraps some of them)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _describe_tls(error: ssl.SSLError, target: str) -> tuple[str, bool]:
    if isinstance(error, ssl.SSLCertVerificationError):
        why = error.verify_message or error.reason or "verification failed"
        return (
            f"TLS certificate of {target} is not trusted ({why}): nothing was sent; "
            "trust its CA with ca_certificate",
            False,
        )
    return f"TLS handshake with {target} failed ({error.reason or type(error).__name__})", False


def _os_reason(error: BaseException) -> str:
    """Only the error number's text: asyncio's own messages name the address it tried."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, OSError) and current.errno:
            return os.strerror(current.errno).lower()
        current = current.__cause__
    return type(error).__name__
