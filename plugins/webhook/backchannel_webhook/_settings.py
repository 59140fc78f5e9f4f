"""A recipient's webhook settings, declared: the host checks them against this model and
hands the transport the parsed result. Problems never quote a value."""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from typing import Annotated, Final, Literal, Self

from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)
from yarl import URL

from backchannel.plugin import Destination, Secret, SettingError, TransportSettings
from backchannel.plugin_support import (
    ConnectTimeoutSeconds,
    HeaderName,
    HeaderValue,
    NoControlCharacters,
    number_above_zero,
    one_or_more,
    web_url,
)

from ._signing import signing_key

AuthScheme = Literal["none", "bearer", "basic", "api_key"]
#: The settings each auth scheme needs; each is refused with any other scheme.
AUTH_NEEDS: Final[Mapping[str, tuple[str, ...]]] = {
    "bearer": ("bearer_token",),
    "basic": ("basic_username", "basic_password"),
    "api_key": ("api_key_header", "api_key"),
}
MAX_TIMEOUT_SECONDS: Final = 300.0
MAX_HEADERS: Final = 32

#: Header names the transport sets itself (or that would break the request's framing).
RESERVED_HEADERS: Final = frozenset(
    {
        "authorization",
        "connection",
        "content-length",
        "content-type",
        "host",
        "traceparent",
        "tracestate",
        "transfer-encoding",
        "user-agent",
    }
)
RESERVED_HEADER_PREFIX: Final = "webhook-"


def _not_reserved(name: str) -> str:
    lowered = name.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_HEADER_PREFIX):
        raise ValueError("is a header the webhook transport sets itself")
    return name


CustomHeaderName = Annotated[HeaderName, AfterValidator(_not_reserved)]
#: A credential that goes into a header: no line breaks or control characters.
Credential = Annotated[NoControlCharacters, Field(min_length=1)]
WebhookUrl = Annotated[URL, web_url("http", "https")]
Headers = Annotated[dict[CustomHeaderName, HeaderValue], Field(max_length=MAX_HEADERS)]
#: One ``whsec_`` secret, or several while a key rotates: each signs.
SigningKeys = Annotated[
    list[Annotated[bytes, PlainValidator(signing_key)]], one_or_more("a whsec_ secret")
]


class WebhookSettings(TransportSettings):
    """The settings of one webhook recipient (see the README for each). Settings declared
    with ``validate_default`` are checked when absent too: that is how the rules that
    require them (a URL in one place or the other, what each auth scheme needs) run
    alongside every other check, so all problems are reported at once."""

    url: Annotated[WebhookUrl | None, Secret(or_plain=True), Destination()] = Field(
        None, validate_default=True
    )
    headers: Headers = Field(default_factory=dict)
    auth: AuthScheme = "none"
    #: Lets credentials (an auth scheme's, a secret URL's) go to an ``http://`` URL that
    #: is neither this machine nor an allowlisted address: in plain text, for anyone on
    #: the way to read. Part of the destination: turning it on needs the secrets again.
    allow_plaintext_credentials: Annotated[bool, Destination()] = False
    basic_username: Credential | None = Field(None, validate_default=True)
    api_key_header: CustomHeaderName | None = Field(None, validate_default=True)
    connect_timeout_seconds: ConnectTimeoutSeconds | None = None
    timeout_seconds: Annotated[float, number_above_zero(MAX_TIMEOUT_SECONDS)] | None = None
    signing_secrets: Annotated[SigningKeys, Secret()] = Field(default_factory=list)
    bearer_token: Annotated[Credential | None, Secret()] = Field(None, validate_default=True)
    basic_password: Annotated[Credential | None, Secret()] = Field(None, validate_default=True)
    api_key: Annotated[Credential | None, Secret()] = Field(None, validate_default=True)

    @field_validator("url")
    @classmethod
    def _url_is_given(cls, url: URL | None) -> URL | None:
        if url is None:
            raise ValueError("is required (or secret_settings.url, if it carries a secret)")
        return url

    @field_validator("headers")
    @classmethod
    def _each_header_once(cls, headers: dict[str, str]) -> dict[str, str]:
        seen: set[str] = set()
        for name in headers:
            if name.lower() in seen:
                raise SettingError(("headers", name), "is given twice (header names ignore case)")
            seen.add(name.lower())
        return headers

    @field_validator(
        "basic_username", "api_key_header", "bearer_token", "basic_password", "api_key"
    )
    @classmethod
    def _used_by_the_auth_scheme(cls, value: str | None, info: ValidationInfo) -> str | None:
        scheme = info.data.get("auth")
        if scheme is None:
            return value  # auth is itself wrong: that is the problem to report
        [user] = [s for s, needs in AUTH_NEEDS.items() if info.field_name in needs]
        if scheme == user and value is None:
            raise ValueError(f'is required when auth is "{scheme}"')
        if scheme != user and value is not None:
            raise ValueError(f'is only used when auth is "{user}"')
        return value

    @field_validator("basic_username")
    @classmethod
    def _no_colon_in_a_basic_user_name(cls, value: str | None) -> str | None:
        if value is not None and ":" in value:
            raise ValueError('must not contain ":"')
        return value

    @field_validator("api_key_header")
    @classmethod
    def _api_key_header_not_in_headers(cls, value: str | None, info: ValidationInfo) -> str | None:
        headers = info.data.get("headers", {})
        if value is not None and value.lower() in {name.lower() for name in headers}:
            raise ValueError("is also given in headers")
        return value

    @model_validator(mode="after")
    def _credentials_only_in_a_secret_url(self) -> Self:
        url = self.url
        if url is not None and (url.user is not None or url.password is not None):
            if not self.is_secret("url"):
                raise SettingError(
                    "url", "carries credentials: give the whole URL in secret_settings.url"
                )
            if self.auth != "none":
                raise SettingError("auth", 'must be "none" when the URL carries credentials')
        return self

    @model_validator(mode="after")
    def _no_credentials_in_plain_text(self) -> Self:
        url = self.url
        if url is None or url.scheme != "http" or self.allow_plaintext_credentials:
            return self
        if self.auth != "none":
            carried = f'auth "{self.auth}" would send its credential'
        elif self.is_secret("url"):
            carried = "a secret URL would send its credential (user:password@ or its query)"
        else:
            return self
        if not self.plaintext_credentials_allowed(url.host or ""):
            raise SettingError(
                "url",
                f"is http://, so {carried} in plain text: use https://, or set "
                "allow_plaintext_credentials: true (this machine and addresses the "
                "operator allowlists need neither)",
            )
        return self

    @property
    def endpoint(self) -> URL:
        """Where to post (never None once read: the model requires it)."""
        assert self.url is not None
        return self.url

    @functools.cached_property
    def auth_headers(self) -> tuple[tuple[str, str], ...]:
        """The header the auth scheme adds, if any."""
        if self.auth == "bearer" and self.bearer_token is not None:
            return (("Authorization", f"Bearer {self.bearer_token}"),)
        if self.auth == "basic" and self.basic_password is not None:
            pair = f"{self.basic_username}:{self.basic_password}".encode()
            return (("Authorization", f"Basic {base64.b64encode(pair).decode('ascii')}"),)
        if self.auth == "api_key" and self.api_key_header and self.api_key is not None:
            return ((self.api_key_header, self.api_key),)
        return ()
