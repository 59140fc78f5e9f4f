"""A real SMTP server on loopback for the email transport's tests (aiosmtpd).

``Certificates`` makes a throwaway CA and a server certificate for ``localhost`` and
``127.0.0.1``. ``running_smtp_server`` starts an ``aiosmtpd`` controller in its own thread:
STARTTLS required and AUTH required (one user), implicit TLS, or plain without any TLS. The
handler records every command it is shown and every message (envelope and parsed email), and
can be told to refuse some recipients, or all of them.
"""

from __future__ import annotations

import asyncio
import email.policy
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from support.certificates import CertificateAuthority

USERNAME = "backchannel"
PASSWORD = "s3cret-Pa55word!"


# --- certificates ------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """A CA (its PEM text is what a recipient's ``ca_certificate`` holds) and a certificate
    it signed for localhost and 127.0.0.1, written to files for the server."""

    ca_pem: str
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, directory: Path) -> Certificates:
        authority = CertificateAuthority()
        issued = authority.issue(
            common_name="localhost", dns_names=["localhost"], ip_addresses=["127.0.0.1"],
            server=True,
        )  # fmt: skip
        cert_file, key_file = directory / "server.crt", directory / "server.key"
        cert_file.write_bytes(issued.certificate)
        key_file.write_bytes(issued.key)
        return cls(
            ca_pem=authority.certificate.decode("ascii"), cert_file=cert_file, key_file=key_file
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


# --- what the server saw -----------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    #: Whether the connection it came over was encrypted.
    over_tls: bool


@dataclass
class RecordingHandler:
    """An aiosmtpd handler that records everything and refuses what it is told to."""

    #: Recipient address → the reply that refuses it, e.g. ``"550 5.1.1 No such user"``.
    refuse: dict[str, str] = field(default_factory=dict)
    #: A reply that refuses every recipient, when set.
    refuse_all: str | None = None
    #: Seconds to wait before answering DATA, to make a client time out.
    data_delay: float = 0.0
    messages: list[Received] = field(default_factory=list)
    #: Every MAIL, RCPT, RSET and DATA the server was shown, as ``("RCPT", address)``.
    commands: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, command: str, argument: str = "") -> None:
        with self._lock:
            self.commands.append((command, argument))

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        self._record("MAIL", address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self._record("RCPT", address)
        refusal = self.refuse_all or self.refuse.get(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._record("RSET")
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        raw = envelope.original_content or b""
        message = BytesParser(policy=email.policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.commands.append(("DATA", ""))
            queue_id = f"Q{len(self.messages) + 1:04d}"
            self.messages.append(
                Received(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    raw=raw,
                    message=message,
                    over_tls=_over_tls(server, session),
                )
            )
        return f"250 2.0.0 Ok: queued as {queue_id}"


def _over_tls(server: SMTP, session: Session) -> bool:
    if session.ssl is not None:  # STARTTLS
        return True
    transport = server.transport
    return transport is not None and transport.get_extra_info("sslcontext") is not None


@dataclass
class Authenticator:
    """Accepts one user name and password; records who tried (never what password)."""

    username: str = USERNAME
    password: str = PASSWORD
    #: Answer a wrong password with a reply that repeats it, as a careless server might.
    echo_wrong_password: bool = False
    attempts: list[tuple[str, str]] = field(default_factory=list)

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace")
        self.attempts.append((mechanism, login))
        given = data.password.decode("utf-8", "replace")
        if login == self.username and given == self.password:
            return AuthResult(success=True, auth_data=login)
        if self.echo_wrong_password:
            message = f"535 5.7.8 password {given} is wrong"
            return AuthResult(success=False, handled=False, message=message)
        return AuthResult(success=False, handled=False)


# --- the server --------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler
    authenticator: Authenticator


class _ImplicitTlsController(Controller):
    """aiosmtpd does not see TLS it did not negotiate itself (aio-libs/aiosmtpd#281): on an
    implicit-TLS socket it would refuse AUTH as if in plaintext. The socket is TLS from its
    first byte, so AUTH may go ahead."""

    def factory(self) -> SMTP:
        smtp = super().factory()
        smtp._auth_require_tls = False
        return smtp


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def running_smtp_server(certificates: Certificates | None, *, tls: str) -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1. ``tls``: ``"starttls"`` (STARTTLS required before
    anything else, then AUTH before any mail), ``"implicit"`` (TLS from the first byte, AUTH
    required) or ``"none"`` (no TLS at all; AUTH offered in plaintext but not required)."""
    handler, authenticator = RecordingHandler(), Authenticator()
    options: dict[str, Any] = {
        "hostname": "127.0.0.1",
        "port": free_port(),
        "server_hostname": "smtp.test",
        "auth_required": True,
        "authenticator": authenticator,
        "ready_timeout": 10.0,
    }
    controller: Controller
    if tls == "starttls":
        assert certificates is not None
        tls_context = certificates.server_context()
        controller = Controller(handler, tls_context=tls_context, require_starttls=True, **options)
    elif tls == "implicit":
        assert certificates is not None
        controller = _ImplicitTlsController(
            handler, ssl_context=certificates.server_context(), **options
        )
    elif tls == "none":
        # As lax as a server can be: AUTH offered in plaintext, mail taken without it. So
        # whatever a client says in clear (a password, a message) is recorded.
        options["auth_required"] = False
        controller = Controller(handler, auth_require_tls=False, **options)
    else:
        raise ValueError(f"unknown tls mode {tls!r}")
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", options["port"], handler, authenticator)
    finally:
        controller.stop()
