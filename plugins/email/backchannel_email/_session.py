"""One SMTP session, opened step by step: connect, TLS, login. Never without TLS.

aiosmtplib gets ``start_tls=True`` (or ``use_tls=True`` for implicit TLS), never its default
``start_tls=None``, which silently stays in plaintext when a server (or someone between us
and it) leaves STARTTLS out. Certificates are verified unless a recipient turns that off.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Final

import aiosmtplib

from backchannel.plugin import TransportContext

from ._outcome import CONNECT, LOGIN, TLS
from ._settings import EmailSettings, Server

#: How long a polite QUIT may take once the work is done.
QUIT_TIMEOUT_SECONDS: Final = 2.0
_GREETING_CHARS: Final = 120


@dataclass
class Progress:
    """Where an attempt has got to: the step under way and the steps passed, with details."""

    step: str = CONNECT
    passed: list[tuple[str, str]] = field(default_factory=list)

    def done(self, detail: str) -> None:
        self.passed.append((self.step, detail))


class TlsContexts:
    """TLS client contexts, built once per (verify, extra CA) pair: loading the system's
    trust store takes long enough to be worth keeping."""

    _MAX_ENTRIES: Final = 64

    def __init__(self) -> None:
        self._contexts: dict[tuple[bool, str | None], ssl.SSLContext] = {}

    def get(self, server: Server) -> ssl.SSLContext:
        key = (server.verify_certificate, server.ca_certificate)
        context = self._contexts.get(key)
        if context is None:
            if len(self._contexts) >= self._MAX_ENTRIES:
                self._contexts.clear()
            context = self._contexts[key] = _client_context(*key)
        return context


def _client_context(verify: bool, ca_certificate: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_certificate is not None:
        context.load_verify_locations(cadata=ca_certificate)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def open_session(
    settings: EmailSettings,
    progress: Progress,
    *,
    tls_context: ssl.SSLContext,
    context: TransportContext,
    connect_timeout: float,
    timeout: float,
    local_hostname: str,
) -> aiosmtplib.SMTP:
    """A session that is encrypted and, when the settings name a user, logged in.

    Exceptions pass through as they are; ``progress.step`` says which step raised them.
    """
    server = settings.server
    progress.step = CONNECT
    async with asyncio.timeout(connect_timeout):
        # The host's guard resolves, refuses what it does not allow and connects to an
        # address it checked; aiosmtplib then uses the socket as it is.
        sock = await context.connect(server.host, server.port)
    peer = sock.getpeername()[0]
    try:
        smtp = aiosmtplib.SMTP(
            hostname=server.host,
            sock=sock,
            use_tls=server.implicit_tls,
            start_tls=not server.implicit_tls,
            tls_context=tls_context,
            timeout=timeout,
            local_hostname=local_hostname,
        )
    except BaseException:
        sock.close()
        raise
    # From here on the socket belongs to aiosmtplib's transport, which closes it.
    try:
        if server.implicit_tls:
            progress.done(f"connected to {server.target} ({peer})")
            progress.step = TLS
            greeting = await smtp.connect(timeout=connect_timeout)
            progress.done(f"{_describe_tls(smtp, server)}; greeting {_short(greeting)}")
        else:
            try:
                greeting = await smtp.connect(timeout=connect_timeout)  # and STARTTLS
            except BaseException as error:
                if _step_of_starttls_connect_error(error) == TLS:
                    progress.done(f"connected to {server.target} ({peer})")
                    progress.step = TLS
                raise
            progress.done(f"connected to {server.target} ({peer}): {_short(greeting)}")
            progress.step = TLS
            progress.done(_describe_tls(smtp, server))
        if server.username is not None:
            progress.step = LOGIN
            await smtp.login(server.username, settings.password or "")
            progress.done(f"logged in as {server.username}")
    except BaseException:
        smtp.close()
        raise
    return smtp


async def close_session(smtp: aiosmtplib.SMTP) -> None:
    """Says QUIT (briefly, and without caring how it goes), then closes the connection."""
    try:
        async with asyncio.timeout(QUIT_TIMEOUT_SECONDS):
            await smtp.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        pass
    finally:
        smtp.close()


def _step_of_starttls_connect_error(error: BaseException) -> str:
    """With ``start_tls=True``, ``SMTP.connect`` connects (greeting, EHLO) and then starts
    TLS: which of the two failed."""
    if isinstance(error, ssl.SSLError) or isinstance(error.__cause__, ssl.SSLError):
        return TLS
    if isinstance(error, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPHeloError):
        return CONNECT
    return TLS if isinstance(error, aiosmtplib.SMTPException | ConnectionError) else CONNECT


def _describe_tls(smtp: aiosmtplib.SMTP, server: Server) -> str:
    tls_object = smtp.get_transport_info("ssl_object")
    if not isinstance(tls_object, ssl.SSLObject | ssl.SSLSocket):
        # Never reached while start_tls=True and use_tls are honoured; checked all the same,
        # because everything after this point may carry the password.
        raise aiosmtplib.SMTPException("the connection is not encrypted")
    how = "implicit TLS" if server.implicit_tls else "STARTTLS"
    verified = (
        "certificate verified"
        if server.verify_certificate
        else "certificate NOT verified (verify_certificate is false)"
    )
    return f"{how}, {tls_object.version()}, {verified}"


def _short(reply: aiosmtplib.SMTPResponse) -> str:
    text = f"{reply.code} {' '.join(reply.message.split())}"
    return text if len(text) <= _GREETING_CHARS else text[: _GREETING_CHARS - 1] + "…"
