"""A recipient's Teams settings: every problem with them, or the workflow they describe.

The Workflows URL carries its credential in ``sig=``, so it is only ever a secret setting, and
no description of a problem contains any part of it.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from yarl import URL

from backchannel.plugin import FieldProblem
from backchannel.plugin_support import address_literal, looks_like_address_literal, positive_number

PLAIN: Final = "transport_settings"
SECRET: Final = "secret_settings"

PLAIN_SETTINGS: Final = frozenset(
    {
        "title",
        "include_personal_data",
        "ca_certificate",
        "connect_timeout_seconds",
        "timeout_seconds",
        "max_requests_per_second",
    }
)
SECRET_SETTINGS: Final = frozenset({"url"})

MAX_URL_LENGTH: Final = 4096
MAX_TITLE_CHARS: Final = 200
MAX_CA_CERTIFICATE_CHARS: Final = 256 * 1024
MAX_CONNECT_TIMEOUT_SECONDS: Final = 60.0
MAX_TIMEOUT_SECONDS: Final = 300.0
#: Workflows throttles a trigger URL above about 4 requests a second.
MAX_REQUESTS_PER_SECOND: Final = 4.0

#: What a URL may hold once percent-encoded (RFC 3986): it is sent exactly as given, since
#: re-encoding it (``%2F`` to ``/`` in ``sp=``) could change what the signature covers.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
#: A DNS name as the resolver takes it: labels of 1 to 63 characters, 253 in all.
_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*\.?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class Workflow:
    """Where and how to post, read from settings that had no problems."""

    url: URL
    title: str | None
    include_personal_data: bool
    ca_certificate: str | None
    connect_timeout: float | None
    timeout: float | None
    max_requests_per_second: float
    #: Every spelling of the URL and of its parts that must never leave the transport,
    #: longest first.
    secret_values: tuple[str, ...]


def read_workflow(
    settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> tuple[Workflow | None, list[FieldProblem]]:
    """The workflow the settings describe, and every problem with them (the workflow is None
    when there is any)."""
    reader = _Reader(settings, secrets)
    workflow = reader.read()
    return (workflow if not reader.problems else None), reader.problems


class _Reader:
    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
        self.settings = settings
        self.secrets = secrets
        self.problems: list[FieldProblem] = []

    def problem(self, field: str, description: str) -> None:
        self.problems.append(FieldProblem(field, description))

    def read(self) -> Workflow | None:
        self.check_names()
        url = self.read_url()
        title = self.read_title()
        include_personal_data = self.read_flag("include_personal_data")
        ca_certificate = self.read_ca_certificate()
        connect_timeout = positive_number(
            self.settings, "connect_timeout_seconds", MAX_CONNECT_TIMEOUT_SECONDS, self.problems
        )
        timeout = positive_number(
            self.settings, "timeout_seconds", MAX_TIMEOUT_SECONDS, self.problems
        )
        rate = positive_number(
            self.settings,
            "max_requests_per_second",
            MAX_REQUESTS_PER_SECOND,
            self.problems,
            what="a number",
        )
        if url is None:
            return None
        return Workflow(
            url=url,
            title=title,
            include_personal_data=include_personal_data,
            ca_certificate=ca_certificate,
            connect_timeout=connect_timeout,
            timeout=timeout,
            max_requests_per_second=rate or MAX_REQUESTS_PER_SECOND,
            secret_values=_url_secrets(url, self.secrets["url"]),
        )

    def check_names(self) -> None:
        for name in self.settings:
            if name in PLAIN_SETTINGS:
                continue
            if name in SECRET_SETTINGS:
                self.problem(
                    f"{PLAIN}.{name}",
                    f"is secret (a Workflows URL carries its credential in sig=): "
                    f"give it in {SECRET}",
                )
            else:
                known = ", ".join(sorted(PLAIN_SETTINGS))
                self.problem(f"{PLAIN}.{name}", f"is not a teams setting (known: {known})")
        for name in self.secrets:
            if name in SECRET_SETTINGS:
                continue
            if name in PLAIN_SETTINGS:
                self.problem(f"{SECRET}.{name}", f"is not secret: give it in {PLAIN}")
            else:
                self.problem(f"{SECRET}.{name}", "is not a teams secret setting (known: url)")

    def read_url(self) -> URL | None:
        field = f"{SECRET}.url"
        value = self.secrets.get("url")
        if value is None:
            if "url" not in self.settings:
                self.problem(field, "is required: the workflow's HTTP POST URL")
            return None
        if not isinstance(value, str) or not value:
            self.problem(field, "must be a non-empty string")
            return None
        if len(value) > MAX_URL_LENGTH:
            self.problem(field, f"is longer than {MAX_URL_LENGTH} characters")
            return None
        if not _URL_CHARACTERS.fullmatch(value):
            self.problem(
                field, "must be percent-encoded: no spaces, control or non-ASCII characters"
            )
            return None
        try:
            url = URL(value, encoded=True)
            host = url.host
            url.port  # noqa: B018 -- an out-of-range port raises only when read
        except (ValueError, TypeError):
            self.problem(field, "is not a valid URL")
            return None
        if url.scheme != "https":
            self.problem(field, "must be an https:// URL (the Workflows trigger URL)")
            return None
        if not host:
            self.problem(field, "has no host")
            return None
        if url.fragment:
            self.problem(field, "has a fragment (#...), which is never sent: remove it")
        if url.user is not None or url.password is not None:
            self.problem(field, "must not carry user:password@ (Workflows signs with sig=)")
        address = address_literal(host)
        if address is None and looks_like_address_literal(host):
            self.problem(field, "the host looks like an IP address but is not one")
        elif address is None and not _HOST_NAME.fullmatch(url.raw_host or ""):
            self.problem(field, "the host is not a valid host name")
        elif address is not None and address.version == 4 and str(address) != host:
            # aiohttp connects only to IPv4 addresses spelled a.b.c.d; 127.1 means 127.0.0.1.
            url = url.with_host(str(address))
        return url

    def read_title(self) -> str | None:
        value = self.settings.get("title")
        if value is None:
            return None
        if (
            not isinstance(value, str)
            or not value.strip()
            or len(value) > MAX_TITLE_CHARS
            or _CONTROL.search(value)
        ):
            self.problem(
                f"{PLAIN}.title",
                f"must be text of 1 to {MAX_TITLE_CHARS} characters on one line",
            )
            return None
        return value.strip()

    def read_flag(self, name: str) -> bool:
        value = self.settings.get(name, False)
        if not isinstance(value, bool):
            self.problem(f"{PLAIN}.{name}", "must be true or false")
            return False
        return value

    def read_ca_certificate(self) -> str | None:
        value = self.settings.get("ca_certificate")
        if value is None:
            return None
        field = f"{PLAIN}.ca_certificate"
        if (
            not isinstance(value, str)
            or _PEM_CERTIFICATE not in value
            or len(value) > MAX_CA_CERTIFICATE_CHARS
        ):
            self.problem(
                field, "must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)"
            )
            return None
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=value)
        except (ssl.SSLError, ValueError):
            self.problem(field, "is not a readable PEM certificate")
            return None
        return value


#: URL parts shorter than this are too common to mask (``sv=1.0``, ``/invoke``).
_MIN_MASKED_PART = 8
#: Path segments at least this long are ids (the workflow id is 32 hex digits).
_MIN_MASKED_SEGMENT = 16


def _url_secrets(url: URL, given: str) -> tuple[str, ...]:
    """The spellings of a Workflows URL, and of the parts of it, that a remote might echo."""
    try:
        decoded = URL(given)
    except ValueError:
        decoded = url
    values = {given, str(url), str(decoded), url.human_repr(), decoded.human_repr()}
    for spelling in (url, decoded):
        values.update((spelling.raw_query_string, spelling.query_string))
        values.update((spelling.raw_path, spelling.path, spelling.raw_path_qs, spelling.path_qs))
        values.update(
            value
            for pair in (*spelling.raw_query_string.split("&"), *spelling.query_string.split("&"))
            if len(value := pair.partition("=")[2]) >= _MIN_MASKED_PART
        )
        values.update(s for s in spelling.raw_parts if len(s) >= _MIN_MASKED_SEGMENT)
        values.update((spelling.raw_host or "", spelling.host_port_subcomponent or ""))
    return tuple(sorted((v for v in values if len(v) >= _MIN_MASKED_PART), key=len, reverse=True))
