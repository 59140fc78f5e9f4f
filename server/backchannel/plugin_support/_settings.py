"""Setting types every transport declares alike, so the same rule reads the same way
everywhere (a port, a host name, a timeout, a CA certificate, a header, a URL)::

    class AcmeSettings(TransportSettings):
        host: HostName
        port: Port = 443
        connect_timeout_seconds: ConnectTimeoutSeconds | None = None
        timeout_seconds: Annotated[float, number_above_zero(300)] | None = None

Each is a type for a field of a :class:`~backchannel.plugin.TransportSettings` model; what
is wrong with a value becomes a problem in words that never repeat the value.
"""

from __future__ import annotations

import ipaddress
import math
import re
import ssl
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, PlainValidator
from yarl import URL

from backchannel.outbound import address_literal, looks_like_address_literal

#: A DNS name as the resolver takes it (IDNA already applied): labels of 1 to 63 characters,
#: 253 in all. Underscores are allowed: some internal names use them.
_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*\.?")
#: An HTTP header name (RFC 9110 token).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: C0 control characters, DEL and the Unicode line separators: nothing that may end a line
#: in a header, an SMTP command or a log.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
#: The same, but tab, which header values may hold.
_CONTROL_BUT_TAB = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_PEM_CERTIFICATE: Final = "-----BEGIN CERTIFICATE-----"

MAX_CONNECT_TIMEOUT_SECONDS: Final = 60.0
MAX_URL_CHARS: Final = 4096
MAX_HEADER_VALUE_CHARS: Final = 4096
#: A CA bundle larger than this is not a recipient's own CA.
MAX_PEM_CHARS: Final = 256 * 1024


def number_above_zero(maximum: float, *, what: str = "a number of seconds") -> BeforeValidator:
    """A number above 0 and at most ``maximum`` (a timeout, a rate): not a bool, not text,
    not NaN or infinite. ``what`` names it in the problem."""

    def check(value: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 < value <= maximum
        ):
            raise ValueError(f"must be {what} above 0, at most {maximum:g}")
        return float(value)

    return BeforeValidator(check)


def whole_number(minimum: int, maximum: int) -> BeforeValidator:
    """A whole number from ``minimum`` to ``maximum``. Settings arrive through a protobuf
    ``Struct``, where every number is a float: ``22.0`` is the whole number 22."""

    def check(value: Any) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value != int(value)
            or not minimum <= value <= maximum
        ):
            raise ValueError(f"must be a whole number from {minimum} to {maximum}")
        return int(value)

    return BeforeValidator(check)


def one_line(max_chars: int, *, strip: bool = False) -> AfterValidator:
    """Text of 1 to ``max_chars`` characters with no line break or other control
    character; ``strip``: surrounding spaces removed (and not counted)."""

    def check(value: str) -> str:
        text = value.strip() if strip else value
        if not text.strip() or len(text) > max_chars or _CONTROL.search(text):
            raise ValueError(f"must be text of 1 to {max_chars} characters on one line")
        return text

    return AfterValidator(check)


def one_or_more(what: str, *, allow_empty: bool = False) -> BeforeValidator:
    """A list that may be given as its one item: ``"a"`` reads as ``["a"]``. Something
    neither (or an empty list, unless ``allow_empty``) is a problem naming ``what``
    (``"an email address"``)."""
    many = "a list of them" if allow_empty else "a non-empty list of them"

    def check(value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not (value or allow_empty):
            raise ValueError(f"must be {what} or {many}")
        return value

    return BeforeValidator(check)


def _host(value: str) -> str:
    if not value:
        raise ValueError("must be a non-empty string")
    if "@" in value:
        raise ValueError("must be the host alone, without a user name")
    literal = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.ip_address(literal))
    except ValueError:
        pass
    if ":" in value:
        raise ValueError("must be the host alone: give the port in port")
    if not _HOST_NAME.fullmatch(value):
        raise ValueError("is not a valid host name or IP address")
    return value


def _header_name(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError("is not a valid header name")
    return value


def _header_value(value: str) -> str:
    if len(value) > MAX_HEADER_VALUE_CHARS or _CONTROL_BUT_TAB.search(value):
        raise ValueError(
            f"must be at most {MAX_HEADER_VALUE_CHARS} characters "
            "without line breaks or control characters"
        )
    return value


def _pem_certificates(value: str) -> str:
    if _PEM_CERTIFICATE not in value or len(value) > MAX_PEM_CHARS:
        raise ValueError(
            f"must be one or more PEM certificates ({_PEM_CERTIFICATE}), "
            f"at most {MAX_PEM_CHARS} characters"
        )
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=value)
    except (ssl.SSLError, ValueError):
        raise ValueError("is not a readable PEM certificate") from None
    return value


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain line breaks or control characters")
    return value


#: A server's host: a DNS name, or an IP address (``[::1]`` reads as ``::1``); no user name,
#: no port.
HostName = Annotated[str, AfterValidator(_host)]
#: A TCP port.
Port = Annotated[int, whole_number(1, 65535)]
#: The connect timeout every transport takes: above 0, at most 60 seconds.
ConnectTimeoutSeconds = Annotated[float, number_above_zero(MAX_CONNECT_TIMEOUT_SECONDS)]
#: An HTTP header name.
HeaderName = Annotated[str, AfterValidator(_header_name)]
#: An HTTP header value: at most 4096 characters, no line breaks or control characters.
HeaderValue = Annotated[str, AfterValidator(_header_value)]
#: PEM text of one or more CA certificates to trust besides the system's, readable by
#: Python's ``ssl``, at most 256 KiB.
PemCertificates = Annotated[str, AfterValidator(_pem_certificates)]
#: Text that ends up on a protocol line (an SMTP command, a header): no control characters.
NoControlCharacters = Annotated[str, AfterValidator(_no_control_characters)]


def web_url(*schemes: str, encoded: bool = False) -> PlainValidator:
    """A URL of one of ``schemes`` (``"https"``), read into a ``yarl.URL``: at most 4096
    characters, with a host that is a valid name or an address, no ``#fragment`` (never
    sent). An IPv4 host in a legacy spelling (``127.1``) is read as the address it stands
    for, since HTTP clients connect only to ``a.b.c.d``. ``encoded``: the URL is taken as
    already percent-encoded and kept byte for byte (a signed URL), so it may hold nothing
    that needs encoding. Problems never quote any part of the URL: it may be a secret."""
    described = " or ".join(f"{scheme}://" for scheme in schemes)

    def read(value: Any) -> URL:
        if not isinstance(value, str) or not value:
            raise ValueError("must be a non-empty string")
        if len(value) > MAX_URL_CHARS:
            raise ValueError(f"is longer than {MAX_URL_CHARS} characters")
        if encoded and not _URL_CHARACTERS.fullmatch(value):
            raise ValueError("must be percent-encoded: no spaces, control or non-ASCII characters")
        try:
            url = URL(value, encoded=encoded)
            host = url.host
            url.port  # noqa: B018 -- an out-of-range port raises only when read
        except (ValueError, TypeError):
            raise ValueError("is not a valid URL") from None
        if url.scheme not in schemes:
            raise ValueError(f"must be an {described} URL")
        if not host:
            raise ValueError("has no host")
        if url.fragment:
            raise ValueError("has a fragment (#...), which is never sent: remove it")
        address = address_literal(host)
        if address is None and looks_like_address_literal(host):
            raise ValueError("the host looks like an IP address but is not one")
        if address is None and not _HOST_NAME.fullmatch(url.raw_host or ""):
            raise ValueError("the host is not a valid host name")
        if address is not None and address.version == 4 and str(address) != host:
            url = url.with_host(str(address))
        return url

    return PlainValidator(read)


#: What a URL may hold once percent-encoded (RFC 3986).
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
