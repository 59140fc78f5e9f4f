"""A recipient's email settings: every problem with them, or the mail they describe.

Descriptions of problems never contain the password. Nothing that ends up in a header or on
an SMTP command line may hold a line break: addresses are checked here, templates may not
contain one in the subject, and rendered subjects are made one line when sent.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from typing import Any, Final

from backchannel.plugin import FieldProblem
from backchannel.plugin_support import positive_number, setting_name_problems

from ._templates import (
    DEFAULT_BODY_TEMPLATE,
    DEFAULT_SUBJECT_TEMPLATE,
    MAX_TEMPLATE_CHARS,
    template_problem,
)

PLAIN: Final = "transport_settings"
SECRET: Final = "secret_settings"

PLAIN_SETTINGS: Final = frozenset(
    {
        "host",
        "port",
        "tls",
        "verify_certificate",
        "ca_certificate",
        "username",
        "from_address",
        "to",
        "cc",
        "bcc",
        "subject_template",
        "body_template",
        "html_template",
        "attach",
        "connect_timeout_seconds",
        "timeout_seconds",
    }
)
SECRET_SETTINGS: Final = frozenset({"password"})

TLS_MODES: Final = ("starttls", "implicit")
DEFAULT_PORTS: Final[Mapping[str, int]] = {"starttls": 587, "implicit": 465}
MAX_CONNECT_TIMEOUT_SECONDS: Final = 60.0
MAX_TIMEOUT_SECONDS: Final = 300.0
MAX_RECIPIENTS: Final = 100
MAX_ADDRESS_CHARS: Final = 320
MAX_SUBJECT_TEMPLATE_CHARS: Final = 1000
MAX_USERNAME_CHARS: Final = 256

#: A DNS name as the resolver takes it: labels of 1 to 63 characters, 253 in all.
_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*\.?")
#: An addr-spec this transport sends to: an ASCII dot-atom local part and a host name.
#: (Quoted local parts and non-ASCII addresses, which need SMTPUTF8, are not accepted.)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = re.compile(
    rf"(?P<local>{_ATEXT}(\.{_ATEXT})*)@(?P<domain>[A-Za-z0-9-]{{1,63}}(\.[A-Za-z0-9-]{{1,63}})*)"
)
#: ``Display Name <addr-spec>``: the name may be quoted; it may not hold angle brackets.
_NAMED_ADDRESS = re.compile(r"\s*(?P<name>[^<>]*?)\s*<(?P<addr>[^<>]*)>\s*")
#: Line breaks and other control characters (including Unicode line separators).
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_LINE_BREAK = re.compile(r"[\r\n\x85\u2028\u2029]")


@dataclass(frozen=True)
class Server:
    """Where and how to connect."""

    host: str
    port: int
    implicit_tls: bool
    verify_certificate: bool
    ca_certificate: str | None
    username: str | None
    connect_timeout: float | None
    timeout: float | None

    @property
    def target(self) -> str:
        """How results name the server: ``host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Mail:
    """Who the mail is from and to, and how it is written."""

    sender: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    subject_template: str
    body_template: str
    html_template: str | None
    attach: bool

    @property
    def envelope_recipients(self) -> tuple[str, ...]:
        """Every recipient's address once, in the order given: To, then Cc, then Bcc."""
        seen: dict[str, str] = {}
        for address in (*self.to, *self.cc, *self.bcc):
            seen.setdefault(address.addr_spec.lower(), address.addr_spec)
        return tuple(seen.values())


@dataclass(frozen=True)
class EmailSettings:
    server: Server
    mail: Mail
    password: str | None = field(repr=False)

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret string that must never leave the transport, longest first: the
        password, and the base64 forms AUTH LOGIN and AUTH PLAIN put on the wire."""
        if not self.password:
            return ()
        password = self.password.encode()
        username = (self.server.username or "").encode()
        values = {
            self.password,
            base64.b64encode(password).decode("ascii"),
            base64.b64encode(b"\0" + username + b"\0" + password).decode("ascii"),
        }
        return tuple(sorted(values, key=len, reverse=True))


def read_settings(
    settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> tuple[EmailSettings | None, list[FieldProblem]]:
    """The settings, read, and every problem with them (the settings are None when there is
    any problem)."""
    reader = _Reader(settings, secrets)
    read = reader.read()
    return (read if not reader.problems else None), reader.problems


def describe_problems(problems: list[FieldProblem]) -> str:
    return "; ".join(f"{problem.field} {problem.description}" for problem in problems)


class _Reader:
    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
        self.settings = settings
        self.secrets = secrets
        self.problems: list[FieldProblem] = []

    def problem(self, field: str, description: str) -> None:
        self.problems.append(FieldProblem(field, description))

    def plain(self, name: str) -> Any:
        """A plain setting; ``None`` counts as not set."""
        return self.settings.get(name)

    def read(self) -> EmailSettings | None:
        self.check_names()
        server = self.read_server()
        mail = self.read_mail()
        password = self.read_password()
        if server is None or mail is None:
            return None
        return EmailSettings(server=server, mail=mail, password=password)

    def check_names(self) -> None:
        self.problems += setting_name_problems(
            self.settings,
            self.secrets,
            plain_names=PLAIN_SETTINGS,
            secret_names=SECRET_SETTINGS,
            unknown="an email setting",
        )

    # --- the server ------------------------------------------------------------------------

    def read_server(self) -> Server | None:
        host = self.read_host()
        tls = self.read_tls()
        port = self.read_port(DEFAULT_PORTS[tls or "starttls"])
        verify = self.read_bool("verify_certificate", default=True)
        ca_certificate = self.read_ca_certificate()
        username = self.read_username()
        connect_timeout = positive_number(
            self.settings, "connect_timeout_seconds", MAX_CONNECT_TIMEOUT_SECONDS, self.problems
        )
        timeout = positive_number(
            self.settings, "timeout_seconds", MAX_TIMEOUT_SECONDS, self.problems
        )
        if host is None or tls is None or port is None:
            return None
        return Server(
            host=host,
            port=port,
            implicit_tls=tls == "implicit",
            verify_certificate=verify,
            ca_certificate=ca_certificate,
            username=username,
            connect_timeout=connect_timeout,
            timeout=timeout,
        )

    def read_host(self) -> str | None:
        field, value = f"{PLAIN}.host", self.plain("host")
        if value is None:
            self.problem(field, "is required: the SMTP server's host name or address")
            return None
        if not isinstance(value, str) or not value:
            self.problem(field, "must be a non-empty string")
            return None
        literal = value[1:-1] if value.startswith("[") and value.endswith("]") else value
        try:
            return str(ipaddress.ip_address(literal))
        except ValueError:
            pass
        if not _HOST_NAME.fullmatch(value):
            self.problem(field, "is not a valid host name or IP address")
            return None
        return value.rstrip(".").lower()

    def read_tls(self) -> str | None:
        value = self.plain("tls")
        if value is None:
            return "starttls"
        if value not in TLS_MODES:
            self.problem(
                f"{PLAIN}.tls",
                "must be 'starttls' or 'implicit': email is never sent without TLS",
            )
            return None
        return str(value)

    def read_port(self, default: int) -> int | None:
        value = self.plain("port")
        if value is None:
            return default
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole or not 1 <= value <= 65535:
            self.problem(f"{PLAIN}.port", "must be a whole number from 1 to 65535")
            return None
        return int(value)

    def read_bool(self, name: str, *, default: bool) -> bool:
        value = self.plain(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(f"{PLAIN}.{name}", "must be true or false")
            return default
        return value

    def read_ca_certificate(self) -> str | None:
        field, value = f"{PLAIN}.ca_certificate", self.plain("ca_certificate")
        if value is None:
            return None
        if not isinstance(value, str) or "-----BEGIN CERTIFICATE-----" not in value:
            self.problem(field, "must be the PEM text of one or more CA certificates")
            return None
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=value)
        except (ssl.SSLError, ValueError):
            self.problem(field, "is not a readable PEM certificate")
            return None
        return value

    def read_username(self) -> str | None:
        field, value = f"{PLAIN}.username", self.plain("username")
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.problem(field, "must be a non-empty string")
            return None
        if len(value) > MAX_USERNAME_CHARS or _CONTROL.search(value):
            self.problem(
                field,
                f"must be at most {MAX_USERNAME_CHARS} characters without control characters",
            )
            return None
        return value

    def read_password(self) -> str | None:
        field, value = f"{SECRET}.password", self.secrets.get("password")
        has_username = self.plain("username") is not None
        if value is None:
            if has_username:
                self.problem(field, f"is required when {PLAIN}.username is set")
            return None
        if not isinstance(value, str) or not value:
            self.problem(field, "must be a non-empty string")
            return None
        if _LINE_BREAK.search(value) or "\x00" in value:
            self.problem(field, "must not contain line breaks or NUL characters")
            return None
        if not has_username:
            self.problem(field, f"is given without {PLAIN}.username")
        return value

    # --- the mail --------------------------------------------------------------------------

    def read_mail(self) -> Mail | None:
        sender = self.read_sender()
        to, cc, bcc = (self.read_address_list(name) for name in ("to", "cc", "bcc"))
        if to is not None and cc is not None and bcc is not None:
            count = len(to) + len(cc) + len(bcc)
            if count == 0:
                self.problem(f"{PLAIN}.to", "at least one recipient is required in to, cc or bcc")
            elif count > MAX_RECIPIENTS:
                self.problem(
                    f"{PLAIN}.to", f"to, cc and bcc hold more than {MAX_RECIPIENTS} recipients"
                )
        subject = self.read_template("subject_template", DEFAULT_SUBJECT_TEMPLATE, one_line=True)
        body = self.read_template("body_template", DEFAULT_BODY_TEMPLATE)
        html = self.read_template("html_template", None, html=True)
        attach = self.read_bool("attach", default=True)
        if sender is None or to is None or cc is None or bcc is None:
            return None
        if subject is None or body is None:
            return None
        return Mail(
            sender=sender,
            to=to,
            cc=cc,
            bcc=bcc,
            subject_template=subject,
            body_template=body,
            html_template=html,
            attach=attach,
        )

    def read_sender(self) -> Address | None:
        field, value = f"{PLAIN}.from_address", self.plain("from_address")
        if value is None:
            self.problem(field, "is required: the address the mail is from")
            return None
        return self.read_address(field, value)

    def read_address_list(self, name: str) -> tuple[Address, ...] | None:
        field, value = f"{PLAIN}.{name}", self.plain(name)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            self.problem(field, "must be a list of email addresses")
            return None
        addresses = [
            self.read_address(f"{field}[{index}]", item) for index, item in enumerate(value)
        ]
        if any(address is None for address in addresses):
            return None
        return tuple(address for address in addresses if address is not None)

    def read_address(self, field: str, value: Any) -> Address | None:
        if not isinstance(value, str) or not value.strip():
            self.problem(field, "must be an email address")
            return None
        if _CONTROL.search(value):
            self.problem(field, "must not contain line breaks or control characters")
            return None
        if len(value) > MAX_ADDRESS_CHARS:
            self.problem(field, f"is longer than {MAX_ADDRESS_CHARS} characters")
            return None
        named = _NAMED_ADDRESS.fullmatch(value)
        display_name, addr_spec = (named["name"], named["addr"]) if named else ("", value.strip())
        spec = _ADDR_SPEC.fullmatch(addr_spec)
        if spec is None or len(spec["local"]) > 64 or len(spec["domain"]) > 253:
            self.problem(
                field, "is not an email address (local@domain.example, or Name <local@domain>)"
            )
            return None
        display_name = display_name.strip()
        if len(display_name) >= 2 and display_name[0] == display_name[-1] == '"':
            display_name = display_name[1:-1]
        try:
            return Address(display_name=display_name, username=spec["local"], domain=spec["domain"])
        except (ValueError, TypeError):
            self.problem(field, "is not an email address")
            return None

    def read_template(
        self, name: str, default: str | None, *, one_line: bool = False, html: bool = False
    ) -> str | None:
        field, value = f"{PLAIN}.{name}", self.plain(name)
        if value is None:
            return default
        limit = MAX_SUBJECT_TEMPLATE_CHARS if one_line else MAX_TEMPLATE_CHARS
        if not isinstance(value, str) or not value.strip():
            self.problem(field, "must be a non-empty Jinja2 template")
            return None
        if len(value) > limit:
            self.problem(field, f"is longer than {limit} characters")
            return None
        if one_line and _CONTROL.search(value):
            self.problem(field, "must be one line: no line breaks or control characters")
            return None
        problem = template_problem(value, html=html)
        if problem is not None:
            self.problem(field, problem)
            return None
        return value
