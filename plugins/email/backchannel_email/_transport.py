"""The ``email`` transport: one SMTP session per attempt, always over TLS."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Final

import aiosmtplib

from backchannel.plugin import (
    DeliveryResult,
    OutboundFile,
    OutboundMessage,
    ProbeStep,
    TemplateFailed,
    Transport,
    TransportContext,
)
from backchannel.plugin_support import EXCERPT_CHARS, SentBytes, connection_facts, with_facts

from ._file_message import file_message, file_parts, part_count
from ._message import build_message
from ._outcome import (
    SEND,
    SENDER,
    describe_failure,
    describe_refused,
    failure_result,
    sent_result,
)
from ._session import Progress, TlsContexts, close_session, open_session
from ._settings import EmailSettings

#: What an attempt can raise that a remote (or the network) caused; anything else is a bug.
_ATTEMPT_ERRORS: Final = (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError)
_LINE_ENDINGS: Final = re.compile(rb"\r\n|\n|\r(?!\n)")
_EHLO_NAME: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


class EmailTransport(Transport[EmailSettings]):
    """Sends each delivery as an email (templated summary, content attached) over SMTP.
    Every attempt opens and closes its own session: nothing to release at shutdown."""

    name = "email"
    settings_model = EmailSettings
    # Its settings check renders the recipient's templates against a sample document.
    renders_untrusted_templates = True
    splits_files = True

    def __init__(self) -> None:
        self._tls_contexts = TlsContexts()
        self._local_hostname: str | None = None

    async def start(self, context: TransportContext) -> None:
        await super().start(context)
        await self._ehlo_name()

    async def send(self, message: OutboundMessage, settings: EmailSettings) -> DeliveryResult:
        try:
            built = await build_message(settings.mail, message, self.context)
        except TemplateFailed as error:
            return DeliveryResult(
                succeeded=False,
                response_excerpt=f"a template failed for this feedback: {error}"[:EXCERPT_CHARS],
            )
        except ValueError as error:  # a header the email package will not write
            return DeliveryResult(
                succeeded=False,
                response_excerpt=f"the message cannot be built: {error}"[:EXCERPT_CHARS],
            )
        connect_timeout, timeout = self._timeouts(settings)
        progress = Progress()
        smtp: aiosmtplib.SMTP | None = None
        data = as_transmitted(built.data)
        try:
            async with asyncio.timeout(timeout):
                smtp = await self._open(settings, progress, connect_timeout, timeout)
                progress.step = SEND
                refused, reply = await smtp.sendmail(
                    settings.mail.sender.addr_spec,
                    list(settings.mail.envelope_recipients),
                    data,
                )
        except _ATTEMPT_ERRORS as error:
            failure = describe_failure(
                error, progress.step, settings, connect_timeout=connect_timeout, timeout=timeout
            )
            return with_facts(failure_result(failure), _facts(settings, error))
        finally:
            if smtp is not None:
                await close_session(smtp)
        sent = sent_result(
            settings, reply=reply, refused=refused, sent=SentBytes(data), notes=built.notes
        )
        return with_facts(sent, _facts(settings, None if sent.succeeded else "refused"))

    async def send_file(self, file: OutboundFile, settings: EmailSettings) -> DeliveryResult:
        """Sends a batch file as an attachment; a file over ``part_size`` (when the recipient
        allows parts) as one email per numbered part, in order, on one session. A retry
        sends every part again under the same Message-IDs."""
        connect_timeout, timeout = self._timeouts(settings)
        timeout += file.size / 1e6
        progress = Progress()
        smtp: aiosmtplib.SMTP | None = None
        parts = part_count(file)
        # Every part's message, in order: the bytes the server received for the file.
        sent = SentBytes()
        reply: str = ""
        refused: dict[str, aiosmtplib.SMTPResponse] = {}
        try:
            async with asyncio.timeout(timeout):
                smtp = await self._open(settings, progress, connect_timeout, timeout)
                progress.step = SEND
                number = 0
                async for part in file_parts(file):
                    number += 1
                    data = as_transmitted(file_message(settings.mail, file, part, number, parts))
                    refused, reply = await smtp.sendmail(
                        settings.mail.sender.addr_spec,
                        list(settings.mail.envelope_recipients),
                        data,
                    )
                    sent.update(data)
        except _ATTEMPT_ERRORS as error:
            failure = describe_failure(
                error, progress.step, settings, connect_timeout=connect_timeout, timeout=timeout
            )
            return failure_result(failure)
        finally:
            if smtp is not None:
                await close_session(smtp)
        notes = {"parts": str(parts)} if parts > 1 else {}
        return sent_result(settings, reply=reply, refused=refused, sent=sent, notes=notes)

    async def probe(self, settings: EmailSettings) -> list[ProbeStep]:
        """Connects, starts TLS, logs in, and has the server accept the sender and every
        recipient (MAIL FROM, RCPT TO), then takes it all back with RSET: nothing is sent."""
        connect_timeout, timeout = self._timeouts(settings)
        progress = Progress()
        smtp: aiosmtplib.SMTP | None = None
        failed: ProbeStep | None = None
        try:
            async with asyncio.timeout(timeout):
                smtp = await self._open(settings, progress, connect_timeout, timeout)
                progress.step = SENDER
                failed = await _try_envelope(smtp, settings, progress)
        except _ATTEMPT_ERRORS as error:
            failure = describe_failure(
                error, progress.step, settings, connect_timeout=connect_timeout, timeout=timeout
            )
            failed = ProbeStep(failure.step, False, failure_result(failure).response_excerpt)
        finally:
            if smtp is not None:
                await close_session(smtp)
        steps = [ProbeStep(name, True, detail) for name, detail in progress.passed]
        if failed is not None:
            steps.append(failed)
        return steps

    async def _open(
        self,
        settings: EmailSettings,
        progress: Progress,
        connect_timeout: float,
        timeout: float,
    ) -> aiosmtplib.SMTP:
        return await open_session(
            settings,
            progress,
            tls_context=self._tls_contexts.get(settings.server),
            context=self.context,
            connect_timeout=connect_timeout,
            timeout=timeout,
            local_hostname=await self._ehlo_name(),
        )

    def _timeouts(self, settings: EmailSettings) -> tuple[float, float]:
        server = settings.server
        timeout = server.timeout or self.context.total_timeout
        connect_timeout = min(server.connect_timeout or self.context.connect_timeout, timeout)
        return connect_timeout, timeout

    async def _ehlo_name(self) -> str:
        """This machine's name for EHLO, looked up once (it may take a DNS round trip)."""
        if self._local_hostname is None:
            name = await asyncio.to_thread(socket.getfqdn)
            self._local_hostname = name if _EHLO_NAME.fullmatch(name) else "localhost"
        return self._local_hostname


def as_transmitted(message: bytes) -> bytes:
    """``message`` as DATA carries it and the server stores it: every line ending CRLF,
    ending in one (what aiosmtplib would make of it anyway, so the digest on the event is
    of the message the server received). Dot-stuffing is framing: the server removes it."""
    message = _LINE_ENDINGS.sub(b"\r\n", message)
    return message if message.endswith(b"\r\n") else message + b"\r\n"


async def _try_envelope(
    smtp: aiosmtplib.SMTP, settings: EmailSettings, progress: Progress
) -> ProbeStep | None:
    """MAIL FROM and RCPT TO for every recipient, then RSET. A failed step, or None."""
    mail = settings.mail
    await smtp.mail(mail.sender.addr_spec)
    refused: dict[str, aiosmtplib.SMTPResponse] = {}
    for recipient in mail.envelope_recipients:
        try:
            await smtp.rcpt(recipient)
        except aiosmtplib.SMTPRecipientRefused as error:
            refused[recipient] = aiosmtplib.SMTPResponse(error.code, error.message)
    await smtp.rset()
    if refused:
        return ProbeStep(
            SENDER,
            False,
            f"{settings.server.target} accepted the sender but refused "
            f"{len(refused)} of {len(mail.envelope_recipients)} recipients: "
            f"{describe_refused(refused)}",
        )
    progress.done(
        f"{settings.server.target} accepted {mail.sender.addr_spec} as the sender and all "
        f"{len(mail.envelope_recipients)} recipients; nothing was sent (RSET)"
    )
    return None


def _facts(settings: EmailSettings, error: BaseException | str | None) -> dict[str, str]:
    """The SMTP client span's facts of one session."""
    server = settings.server
    return connection_facts("smtp", server.host, server.port, error=error)
