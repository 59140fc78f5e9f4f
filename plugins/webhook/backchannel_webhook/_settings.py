"""A recipient's webhook settings: every problem with them, or the endpoint they describe.

Descriptions of problems never contain a secret value, nor any part of a URL given as a secret.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from yarl import URL

from backchannel.plugin import FieldProblem
from backchannel.plugin_support import (
    address_literal,
    looks_like_address_literal,
    positive_number,
    setting_name_problems,
)

from ._signing import InvalidSigningSecret, signing_key

PLAIN: Final = "transport_settings"
SECRET: Final = "secret_settings"

PLAIN_SETTINGS: Final = frozenset(
    {
        "url",
        "headers",
        "auth",
        "basic_username",
        "api_key_header",
        "connect_timeout_seconds",
        "timeout_seconds",
    }
)
SECRET_SETTINGS: Final = frozenset(
    {"url", "signing_secrets", "bearer_token", "basic_password", "api_key"}
)

AUTH_SCHEMES: Final = ("none", "bearer", "basic", "api_key")
#: Which settings each auth scheme needs, as (where, name).
_AUTH_NEEDS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "none": (),
    "bearer": ((SECRET, "bearer_token"),),
    "basic": ((PLAIN, "basic_username"), (SECRET, "basic_password")),
    "api_key": ((PLAIN, "api_key_header"), (SECRET, "api_key")),
}
_AUTH_SETTINGS: Final = frozenset(need for needs in _AUTH_NEEDS.values() for need in needs)

MAX_CONNECT_TIMEOUT_SECONDS: Final = 60.0
MAX_TIMEOUT_SECONDS: Final = 300.0
MAX_URL_LENGTH: Final = 4096
MAX_HEADERS: Final = 32
MAX_HEADER_VALUE_LENGTH: Final = 4096

#: Header names the transport sets itself (or that would break the request's framing).
RESERVED_HEADERS: Final = frozenset(
    {
        "authorization",
        "connection",
        "content-length",
        "content-type",
        "host",
        "traceparent",
        "transfer-encoding",
        "user-agent",
    }
)
RESERVED_HEADER_PREFIX: Final = "webhook-"

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A DNS name as the resolver takes it (IDNA already applied): labels of 1 to 63 characters,
#: 253 in all. Underscores are allowed: some internal names use them.
_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*\.?")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to send, read from settings that had no problems."""

    url: URL
    url_is_secret: bool
    #: Custom and authentication headers, in the order they are sent.
    headers: tuple[tuple[str, str], ...]
    signing_keys: tuple[bytes, ...]
    connect_timeout: float | None
    timeout: float | None
    #: Every secret string that must never leave the transport, longest first.
    secret_values: tuple[str, ...]


def read_endpoint(
    settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> tuple[Endpoint | None, list[FieldProblem]]:
    """The endpoint the settings describe, and every problem with them (the endpoint is None
    when there is any)."""
    reader = _Reader(settings, secrets)
    endpoint = reader.read()
    return (endpoint if not reader.problems else None), reader.problems


class _Reader:
    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
        self.settings = settings
        self.secrets = secrets
        self.problems: list[FieldProblem] = []

    def problem(self, field: str, description: str) -> None:
        self.problems.append(FieldProblem(field, description))

    def read(self) -> Endpoint | None:
        self.check_names()
        url, url_is_secret = self.read_url()
        headers = self.read_headers()
        auth_headers = self.read_auth(headers, url)
        signing_keys = self.read_signing_keys()
        connect_timeout = positive_number(
            self.settings, "connect_timeout_seconds", MAX_CONNECT_TIMEOUT_SECONDS, self.problems
        )
        timeout = positive_number(
            self.settings, "timeout_seconds", MAX_TIMEOUT_SECONDS, self.problems
        )
        if url is None:
            return None
        return Endpoint(
            url=url,
            url_is_secret=url_is_secret,
            headers=tuple(headers.items()) + auth_headers,
            signing_keys=signing_keys,
            connect_timeout=connect_timeout,
            timeout=timeout,
            secret_values=self.secret_values(url if url_is_secret else None),
        )

    def check_names(self) -> None:
        self.problems += setting_name_problems(
            self.settings,
            self.secrets,
            plain_names=PLAIN_SETTINGS,
            secret_names=SECRET_SETTINGS,
            unknown="a webhook setting",
        )

    # --- url -------------------------------------------------------------------------------

    def read_url(self) -> tuple[URL | None, bool]:
        plain, secret = self.settings.get("url"), self.secrets.get("url")
        if plain is None and secret is None:
            self.problem(f"{PLAIN}.url", f"is required (or {SECRET}.url, if it carries a secret)")
            return None, False
        if plain is not None and secret is not None:
            self.problem(f"{SECRET}.url", f"give the URL once: here or in {PLAIN}.url, not both")
            return None, False
        if secret is not None:
            return self.parse_url(f"{SECRET}.url", secret, is_secret=True), True
        return self.parse_url(f"{PLAIN}.url", plain, is_secret=False), False

    def parse_url(self, field: str, value: Any, *, is_secret: bool) -> URL | None:
        if not isinstance(value, str) or not value:
            self.problem(field, "must be a non-empty string")
            return None
        if len(value) > MAX_URL_LENGTH:
            self.problem(field, f"is longer than {MAX_URL_LENGTH} characters")
            return None
        try:
            url = URL(value)
            host = url.host
            url.port  # noqa: B018 -- an out-of-range port raises only when read
        except (ValueError, TypeError):
            self.problem(field, "is not a valid URL")
            return None
        if url.scheme not in ("http", "https"):
            self.problem(field, "must be an http:// or https:// URL")
            return None
        if not host:
            self.problem(field, "has no host")
            return None
        if url.fragment:
            self.problem(field, "has a fragment (#...), which is never sent: remove it")
        if not is_secret and (url.user is not None or url.password is not None):
            self.problem(field, f"carries credentials: give the whole URL in {SECRET}.url")
        address = address_literal(host)
        spelled = "the host" if is_secret else f"host {host!r}"
        if address is None and looks_like_address_literal(host):
            self.problem(field, f"{spelled} looks like an IP address but is not one")
        elif address is None and not _HOST_NAME.fullmatch(url.raw_host or ""):
            self.problem(field, f"{spelled} is not a valid host name")
        elif address is not None and address.version == 4 and str(address) != host:
            # aiohttp connects only to IPv4 addresses spelled a.b.c.d; 127.1 means 127.0.0.1.
            url = url.with_host(str(address))
        return url

    # --- headers ---------------------------------------------------------------------------

    def read_headers(self) -> dict[str, str]:
        value = self.settings.get("headers")
        if value is None:
            return {}
        field = f"{PLAIN}.headers"
        if not isinstance(value, Mapping):
            self.problem(field, "must be a mapping of header name to value")
            return {}
        if len(value) > MAX_HEADERS:
            self.problem(field, f"has more than {MAX_HEADERS} headers")
        headers: dict[str, str] = {}
        seen: set[str] = set()
        for name, header_value in value.items():
            item = f"{field}.{name}"
            if not isinstance(name, str) or not _TOKEN.fullmatch(name):
                self.problem(item, "is not a valid header name")
                continue
            if self.is_reserved_header(item, name):
                continue
            if name.lower() in seen:
                self.problem(item, "is given twice (header names ignore case)")
                continue
            seen.add(name.lower())
            if not isinstance(header_value, str):
                self.problem(item, "must be a string")
            elif _CONTROL.search(header_value) or len(header_value) > MAX_HEADER_VALUE_LENGTH:
                self.problem(
                    item,
                    f"must be at most {MAX_HEADER_VALUE_LENGTH} characters "
                    "without line breaks or control characters",
                )
            else:
                headers[name] = header_value
        return headers

    def is_reserved_header(self, field: str, name: str) -> bool:
        lowered = name.lower()
        if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_HEADER_PREFIX):
            self.problem(field, "is a header the webhook transport sets itself")
            return True
        return False

    # --- auth ------------------------------------------------------------------------------

    def read_auth(self, headers: Mapping[str, str], url: URL | None) -> tuple[tuple[str, str], ...]:
        scheme = self.settings.get("auth", "none")
        field = f"{PLAIN}.auth"
        if scheme not in AUTH_SCHEMES:
            self.problem(field, f"must be one of {', '.join(AUTH_SCHEMES)}")
            return ()
        needs = _AUTH_NEEDS[scheme]
        for where, name in sorted(_AUTH_SETTINGS - set(needs)):
            given = self.settings if where == PLAIN else self.secrets
            if name in given:
                users = [s for s, n in _AUTH_NEEDS.items() if (where, name) in n]
                self.problem(f"{where}.{name}", f'is only used when auth is "{users[0]}"')
        values: dict[str, str] = {}
        for where, name in needs:
            given = self.settings if where == PLAIN else self.secrets
            value = given.get(name)
            if value is None:
                self.problem(f"{where}.{name}", f'is required when auth is "{scheme}"')
            elif not isinstance(value, str) or not value or _CONTROL.search(value):
                self.problem(
                    f"{where}.{name}", "must be a non-empty string without control characters"
                )
            else:
                values[name] = value
        if scheme != "none" and url is not None and (url.user or url.password):
            self.problem(field, 'must be "none" when the URL carries credentials')
        if len(values) < len(needs):
            return ()
        if scheme == "bearer":
            return (("Authorization", f"Bearer {values['bearer_token']}"),)
        if scheme == "basic":
            if ":" in values["basic_username"]:
                self.problem(f"{PLAIN}.basic_username", 'must not contain ":"')
                return ()
            return (("Authorization", f"Basic {_basic_credentials(values)}"),)
        if scheme == "api_key":
            header, item = values["api_key_header"], f"{PLAIN}.api_key_header"
            if not _TOKEN.fullmatch(header):
                self.problem(item, "is not a valid header name")
            elif self.is_reserved_header(item, header):
                pass
            elif header.lower() in {name.lower() for name in headers}:
                self.problem(item, f"is also given in {PLAIN}.headers")
            else:
                return ((header, values["api_key"]),)
        return ()

    # --- signing ---------------------------------------------------------------------------

    def read_signing_keys(self) -> tuple[bytes, ...]:
        value = self.secrets.get("signing_secrets")
        field = f"{SECRET}.signing_secrets"
        if value is None:
            return ()
        if isinstance(value, str):
            items = [(field, value)]
        elif isinstance(value, list | tuple) and value:
            items = [(f"{field}[{index}]", item) for index, item in enumerate(value)]
        else:
            self.problem(field, "must be a whsec_ secret or a non-empty list of them")
            return ()
        keys: list[bytes] = []
        for item_field, item in items:
            if not isinstance(item, str):
                self.problem(item_field, "must be a string")
                continue
            try:
                keys.append(signing_key(item))
            except InvalidSigningSecret as error:
                self.problem(item_field, str(error))
        return tuple(keys)

    # --- timeouts --------------------------------------------------------------------------

    # --- masking ---------------------------------------------------------------------------

    def secret_values(self, secret_url: URL | None) -> tuple[str, ...]:
        values: set[str] = set()
        for name in ("bearer_token", "basic_password", "api_key"):
            value = self.secrets.get(name)
            if isinstance(value, str):
                values.add(value)
        if "basic_password" in self.secrets:
            credentials = {
                "basic_username": str(self.settings.get("basic_username", "")),
                "basic_password": str(self.secrets["basic_password"]),
            }
            values.add(_basic_credentials(credentials))
        signing = self.secrets.get("signing_secrets")
        for secret in [signing] if isinstance(signing, str) else signing or []:
            if isinstance(secret, str):
                values.update((secret, secret.removeprefix("whsec_")))
        if secret_url is not None:
            values.update(_url_secrets(secret_url, self.secrets["url"]))
        return tuple(sorted((v for v in values if v), key=len, reverse=True))


def _basic_credentials(values: Mapping[str, str]) -> str:
    pair = f"{values['basic_username']}:{values['basic_password']}"
    return base64.b64encode(pair.encode()).decode("ascii")


#: URL parts shorter than this are too common to mask (``v=1``, ``/hook``).
_MIN_MASKED_PART = 8


def _url_secrets(url: URL, given: str) -> set[str]:
    """The spellings of a secret URL, and of the credentials in it, a receiver might echo."""
    values = {given, str(url), url.human_repr(), str(url.with_query(None).with_fragment(None))}
    values.update(part for part in (url.user, url.raw_user, url.password, url.raw_password) if part)
    values.update((url.raw_query_string, url.query_string))
    values.update(
        value
        for pair in (*url.raw_query_string.split("&"), *url.query_string.split("&"))
        if len(value := pair.partition("=")[2]) >= _MIN_MASKED_PART
    )
    values.update(path for path in (url.raw_path, url.path) if len(path) >= _MIN_MASKED_PART)
    return values
