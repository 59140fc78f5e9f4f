"""The email one delivery sends: headers, the templated text (and HTML), and the content.

Bcc recipients are never written into the message: they are only in the SMTP envelope.
"""

from __future__ import annotations

import email.policy
import email.utils
import html
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Final

from backchannel.plugin import OutboundMessage, RenderedContent, TransportContext

from ._settings import Mail
from ._templates import template_namespace

#: SMTP line ends, and every part 7-bit clean (quoted-printable or base64 where needed), so
#: the message passes through any relay whether or not it offers 8BITMIME.
POLICY: Final = email.policy.SMTP.clone(cte_type="7bit")
MAX_SUBJECT_CHARS: Final = 255
#: Content types read as text when ``attach`` is false, besides every ``text/*``.
_TEXT_SUBTYPES: Final = frozenset({"json", "xml", "csv", "x-www-form-urlencoded"})
_LINE_BREAKS_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029\s]+")
_UNSAFE_IN_NAMES = re.compile(r"[^A-Za-z0-9._-]+")
_MIME_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")


@dataclass(frozen=True)
class BuiltMessage:
    message: EmailMessage
    #: The message as it goes on the wire after DATA.
    data: bytes
    #: Secret-free facts worth recording about how the content was carried.
    notes: dict[str, str] = field(default_factory=dict)


def one_line(text: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """``text`` with every line break and control character made a space: a header value
    that cannot start another header."""
    return _LINE_BREAKS_AND_CONTROLS.sub(" ", text).strip()[:limit]


def message_id(delivery_id: str) -> str:
    """The same for every attempt of a delivery, so receivers can drop duplicates."""
    return f"<{_UNSAFE_IN_NAMES.sub('-', delivery_id) or 'delivery'}@backchannel>"


def attachment_name(feedback_id: str, extension: str) -> str:
    stem = _UNSAFE_IN_NAMES.sub("-", feedback_id).strip("-.")
    suffix = _UNSAFE_IN_NAMES.sub("", extension).strip(".")
    name = f"feedback-{stem}" if stem else "feedback"
    return f"{name}.{suffix}" if suffix else name


async def build_message(
    mail: Mail, outbound: OutboundMessage, context: TransportContext
) -> BuiltMessage:
    """The message for one attempt, its templates rendered by the host
    (``context.render_template``: off the event loop, within a time budget). Raises
    ``TemplateFailed`` when a template cannot render this document."""
    namespace = template_namespace(
        outbound.document, delivery_id=outbound.delivery_id, event_type=outbound.event_type
    )
    subject = one_line(await context.render_template(mail.subject_template, namespace))
    body = await context.render_template(mail.body_template, namespace)
    html_body = (
        await context.render_template(mail.html_template, namespace, autoescape=True)
        if mail.html_template is not None
        else None
    )
    notes: dict[str, str] = {}
    maintype, subtype, params = _content_type(outbound.content.content_type)
    inline_text = None if mail.attach else _as_text(outbound.content, maintype, subtype, params)
    if not mail.attach and inline_text is None:
        notes["content"] = "attached: the rendered content is not text, so it cannot be inline"
    if inline_text is not None:
        body = f"{body.rstrip()}\n\n{inline_text}"
        if html_body is not None:
            html_body = f"{html_body}\n<pre>{html.escape(inline_text)}</pre>"

    message = EmailMessage(policy=POLICY)
    message["From"] = mail.sender
    if mail.to:
        message["To"] = mail.to
    if mail.cc:
        message["Cc"] = mail.cc
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = message_id(outbound.delivery_id)
    message["X-Backchannel-Delivery-Id"] = one_line(outbound.delivery_id)
    if outbound.feedback_id:
        message["X-Backchannel-Feedback-Id"] = one_line(outbound.feedback_id)
    if outbound.event_type:
        message["X-Backchannel-Event-Type"] = one_line(outbound.event_type)
    # RFC 3834: a machine wrote this; auto-responders should not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body, charset="utf-8")
    if html_body is not None:
        message.add_alternative(html_body, subtype="html", charset="utf-8")
    if inline_text is None:
        message.add_attachment(
            outbound.content.body,
            maintype=maintype,
            subtype=subtype,
            filename=attachment_name(outbound.feedback_id, outbound.content.file_extension),
            params=params,
        )
    return BuiltMessage(message=message, data=message.as_bytes(policy=POLICY), notes=notes)


def _content_type(value: str) -> tuple[str, str, dict[str, str]]:
    """Main type, subtype and parameters of a formatter's content type; anything unreadable
    is ``application/octet-stream``."""
    probe = EmailMessage()
    try:
        probe["Content-Type"] = one_line(value, limit=1000)
    except (ValueError, TypeError):
        return "application", "octet-stream", {}
    if not _MIME_TYPE.fullmatch(value.split(";", 1)[0].strip()):
        return "application", "octet-stream", {}
    params = {
        name.lower(): str(param)
        for name, param in probe["Content-Type"].params.items()
        if name.lower() not in ("name", "boundary")
    }
    return probe.get_content_maintype(), probe.get_content_subtype(), params


def _as_text(
    content: RenderedContent, maintype: str, subtype: str, params: dict[str, str]
) -> str | None:
    """The content as text when it is text (``text/*``, JSON, XML, CSV, form data)."""
    textual = maintype == "text" or subtype in _TEXT_SUBTYPES or subtype.endswith(("+json", "+xml"))
    if not textual:
        return None
    try:
        text = content.body.decode(params.get("charset", "utf-8"))
    except (LookupError, UnicodeDecodeError):
        return None
    return None if "\x00" in text else text
