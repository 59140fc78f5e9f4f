"""A recipient's email settings, declared: the host checks them against this model and
hands the transport the parsed result.

Problems never quote a value. Nothing that ends up in a header or on an SMTP command line
may hold a line break: addresses are checked here, templates may not contain one in the
subject, and rendered subjects are made one line when sent.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from email.headerregistry import Address
from typing import Annotated, Any, Final, Literal, Self, cast

from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)

from backchannel.plugin import Destination, Secret, SettingError, TransportSettings
from backchannel.plugin_support import (
    ConnectTimeoutSeconds,
    HostName,
    NoControlCharacters,
    PemCertificates,
    Port,
    number_above_zero,
    one_line,
    one_or_more,
)

from ._templates import (
    DEFAULT_BODY_TEMPLATE,
    DEFAULT_SUBJECT_TEMPLATE,
    MAX_TEMPLATE_CHARS,
    template_problem,
)

TlsMode = Literal["starttls", "implicit"]
DEFAULT_PORTS: Final = {"starttls": 587, "implicit": 465}
MAX_TIMEOUT_SECONDS: Final = 300.0
MAX_RECIPIENTS: Final = 100
MAX_ADDRESS_CHARS: Final = 320
MAX_SUBJECT_TEMPLATE_CHARS: Final = 1000
MAX_USERNAME_CHARS: Final = 256

#: An addr-spec this transport sends to: an ASCII dot-atom local part and a host name.
#: (Quoted local parts and non-ASCII addresses, which need SMTPUTF8, are not accepted.)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = re.compile(
    rf"(?P<local>{_ATEXT}(\.{_ATEXT})*)@(?P<domain>[A-Za-z0-9-]{{1,63}}(\.[A-Za-z0-9-]{{1,63}})*)"
)
#: ``Display Name <addr-spec>``: the name may be quoted; it may not hold angle brackets.
_NAMED_ADDRESS = re.compile(r"\s*(?P<name>[^<>]*?)\s*<(?P<addr>[^<>]*)>\s*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _tls_mode(value: Any) -> TlsMode:
    if value in ("starttls", "implicit"):
        return cast(TlsMode, value)
    raise ValueError("must be 'starttls' or 'implicit': email is never sent without TLS")


def _address(value: Any) -> Address:
    """``local@domain`` or ``Display Name <local@domain>``, never a line break."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an email address")
    if _CONTROL.search(value):
        raise ValueError("must not contain line breaks or control characters")
    if len(value) > MAX_ADDRESS_CHARS:
        raise ValueError(f"is longer than {MAX_ADDRESS_CHARS} characters")
    named = _NAMED_ADDRESS.fullmatch(value)
    display_name, addr_spec = (named["name"], named["addr"]) if named else ("", value.strip())
    spec = _ADDR_SPEC.fullmatch(addr_spec)
    if spec is None or len(spec["local"]) > 64 or len(spec["domain"]) > 253:
        raise ValueError("is not an email address (local@domain.example, or Name <local@domain>)")
    display_name = display_name.strip()
    if len(display_name) >= 2 and display_name[0] == display_name[-1] == '"':
        display_name = display_name[1:-1]
    try:
        return Address(display_name=display_name, username=spec["local"], domain=spec["domain"])
    except (ValueError, TypeError):
        raise ValueError("is not an email address") from None


def _host(value: str) -> str:
    # Names are compared and shown in one spelling; addresses come canonical already.
    return value.rstrip(".").lower()


def jinja_template(
    max_chars: int, *, single_line: bool = False, html: bool = False
) -> AfterValidator:
    """A Jinja2 template that renders against the sample document (see ``_templates``)."""

    def check(value: str) -> str:
        if not value.strip():
            raise ValueError("must be a non-empty Jinja2 template")
        if len(value) > max_chars:
            raise ValueError(f"is longer than {max_chars} characters")
        if single_line and _CONTROL.search(value):
            raise ValueError("must be one line: no line breaks or control characters")
        problem = template_problem(value, html=html)
        if problem is not None:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


EmailAddress = Annotated[Address, PlainValidator(_address)]
AddressList = Annotated[list[EmailAddress], one_or_more("an email address", allow_empty=True)]


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


class EmailSettings(TransportSettings):
    """The settings of one email recipient (see the README for each)."""

    host: Annotated[HostName, AfterValidator(_host), Destination()] = Field(
        description="the SMTP server's host name or address"
    )
    tls: Annotated[TlsMode, PlainValidator(_tls_mode), Destination()] = "starttls"
    port: Annotated[Port | None, Destination()] = None
    verify_certificate: Annotated[bool, Destination()] = True
    ca_certificate: Annotated[PemCertificates | None, Destination()] = None
    username: Annotated[Annotated[str, one_line(MAX_USERNAME_CHARS)] | None, Destination()] = None
    from_address: EmailAddress = Field(description="the address the mail is from")
    to: AddressList = Field(default_factory=list)
    cc: AddressList = Field(default_factory=list)
    bcc: AddressList = Field(default_factory=list)
    subject_template: Annotated[
        str, jinja_template(MAX_SUBJECT_TEMPLATE_CHARS, single_line=True)
    ] = DEFAULT_SUBJECT_TEMPLATE
    body_template: Annotated[str, jinja_template(MAX_TEMPLATE_CHARS)] = DEFAULT_BODY_TEMPLATE
    html_template: Annotated[str, jinja_template(MAX_TEMPLATE_CHARS, html=True)] | None = None
    attach: bool = True
    connect_timeout_seconds: ConnectTimeoutSeconds | None = None
    timeout_seconds: Annotated[float, number_above_zero(MAX_TIMEOUT_SECONDS)] | None = None
    password: Annotated[Annotated[NoControlCharacters, Field(min_length=1)] | None, Secret()] = (
        Field(None, validate_default=True)
    )

    @field_validator("password")
    @classmethod
    def _password_for_a_username(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("username") is not None:
            raise ValueError("is required when transport_settings.username is set")
        return value

    @model_validator(mode="after")
    def _whole_mail(self) -> Self:
        if self.password is not None and self.username is None:
            raise SettingError("password", "is given without transport_settings.username")
        count = len(self.to) + len(self.cc) + len(self.bcc)
        if count == 0:
            raise SettingError("to", "at least one recipient is required in to, cc or bcc")
        if count > MAX_RECIPIENTS:
            raise SettingError("to", f"to, cc and bcc hold more than {MAX_RECIPIENTS} recipients")
        return self

    @functools.cached_property
    def server(self) -> Server:
        return Server(
            host=self.host,
            port=self.port or DEFAULT_PORTS[self.tls],
            implicit_tls=self.tls == "implicit",
            verify_certificate=self.verify_certificate,
            ca_certificate=self.ca_certificate,
            username=self.username,
            connect_timeout=self.connect_timeout_seconds,
            timeout=self.timeout_seconds,
        )

    @functools.cached_property
    def mail(self) -> Mail:
        return Mail(
            sender=self.from_address,
            to=tuple(self.to),
            cc=tuple(self.cc),
            bcc=tuple(self.bcc),
            subject_template=self.subject_template,
            body_template=self.body_template,
            html_template=self.html_template,
            attach=self.attach,
        )
