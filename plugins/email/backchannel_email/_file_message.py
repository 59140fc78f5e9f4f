"""The emails that carry a batch file: the file attached (with the manifest, when there is
one, attached to the first), or, when the recipient takes at most ``part_size`` bytes per
email and allows parts, one email per numbered part (``name.001``, ``name.002``...) that the
reader joins back in order. Each email's Message-ID is the same on every attempt."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator
from email.message import EmailMessage

from backchannel.plugin import OutboundFile

from ._message import POLICY, one_line
from ._settings import Mail


def part_message_id(batch_id: str, part: int, parts: int) -> str:
    suffix = "" if parts == 1 else f".part{part}"
    return f"<{batch_id}{suffix}@backchannel>"


async def file_parts(file: OutboundFile) -> AsyncIterator[bytes]:
    """The file's bytes in parts of at most ``part_size`` bytes (one part when 0)."""
    if not file.part_size:
        yield await file.read_all()
        return
    pending = bytearray()
    async for chunk in file.open():
        pending += chunk
        while len(pending) >= file.part_size:
            yield bytes(pending[: file.part_size])
            del pending[: file.part_size]
    if pending or file.size == 0:
        yield bytes(pending)


def part_count(file: OutboundFile) -> int:
    if not file.part_size or file.size == 0:
        return 1
    return -(-file.size // file.part_size)


def _headed(mail: Mail, file: OutboundFile, subject: str, message_id: str) -> EmailMessage:
    """A message with the headers every email of a file has."""
    message = EmailMessage(policy=POLICY)
    message["From"] = mail.sender
    if mail.to:
        message["To"] = mail.to
    if mail.cc:
        message["Cc"] = mail.cc
    message["Subject"] = one_line(subject)
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = message_id
    message["X-Backchannel-Batch-Id"] = one_line(file.batch_id)
    message["Auto-Submitted"] = "auto-generated"
    return message


def _shown_text(file: OutboundFile) -> str | None:
    """The plain-text alternative of a file to show inline (its ``text/plain``
    companion), when the file is HTML meant to be read; None otherwise."""
    if not file.inline or not file.content_type.lower().startswith("text/html"):
        return None
    for companion in file.companions:
        if companion.content_type.lower().startswith("text/plain"):
            return companion.content.decode("utf-8", errors="replace")
    return ""


def file_message(mail: Mail, file: OutboundFile, part: bytes, number: int, parts: int) -> bytes:
    """One email of a batch file, as it goes on the wire. A file to be read (``inline``,
    e.g. a summary report) in HTML is the message itself: its text companion the plain
    body, the HTML the alternative, ``title`` the subject."""
    shown = _shown_text(file) if parts == 1 else None
    if shown is not None:
        return _shown_message(mail, file, part, shown)
    label = f" (part {number} of {parts})" if parts > 1 else ""
    subject = f"Feedback batch file {file.name}{label}"
    message = _headed(mail, file, subject, part_message_id(file.batch_id, number, parts))
    text = (
        f"Backchannel batch file {file.name}: {file.item_count} feedback items, "
        f"{file.size} bytes, SHA-256 {file.sha256}."
    )
    if parts > 1:
        text += (
            f"\nThis is part {number} of {parts}: join the attachments {file.name}.001 to "
            f"{file.name}.{parts:03d} in order to get the file."
        )
    message.set_content(text + "\n", charset="utf-8")
    maintype, _, subtype = file.content_type.partition(";")[0].strip().partition("/")
    name = file.name if parts == 1 else f"{file.name}.{number:03d}"
    message.add_attachment(
        part,
        maintype=maintype or "application",
        subtype=subtype or "octet-stream",
        filename=name,
    )
    if number == 1:
        for companion in file.companions:
            if companion.content:
                cmain, _, csub = companion.content_type.partition("/")
                message.add_attachment(
                    companion.content, maintype=cmain, subtype=csub, filename=companion.name
                )
    return message.as_bytes(policy=POLICY)


def _shown_message(mail: Mail, file: OutboundFile, html_body: bytes, text: str) -> bytes:
    message = _headed(mail, file, file.title or file.name, part_message_id(file.batch_id, 1, 1))
    message.set_content(text or file.name, charset="utf-8")
    message.add_alternative(
        html_body.decode("utf-8", errors="replace"), subtype="html", charset="utf-8"
    )
    return message.as_bytes(policy=POLICY)
