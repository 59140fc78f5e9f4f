"""What a transport reports about the protocol exchange it made, under OpenTelemetry's
semantic-convention keys, in ``DeliveryResult.details``: the host turns those facts into a
client span under the attempt's span (an HTTP client span for HTTP transports), drawn from
the send's own start and end. Nothing else of the plugin API changes, and the host masks
the recipient's secrets in details as everywhere else.

The keys the host reads are :data:`SPAN_FACTS`; a transport reports at least
``network.protocol.name`` (``http``, ``smtp``, ``sftp``...) or ``http.request.method``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from yarl import URL

from backchannel.plugin import DeliveryResult

#: What stands for a credential or a query value in ``url.full`` (the HTTP conventions'
#: own word).
REDACTED = "REDACTED"

#: The semantic-convention keys of details the host puts on the protocol's span, and
#: whether each is a number.
SPAN_FACTS: Mapping[str, bool] = {
    "http.request.method": False,
    "http.response.status_code": True,
    "url.full": False,
    "server.address": False,
    "server.port": True,
    "network.protocol.name": False,
    "network.protocol.version": False,
    "error.type": False,
}


def redacted_url(url: str | URL) -> str:
    """``url`` fit for ``url.full``: user name and password replaced by ``REDACTED``
    (the HTTP conventions' rule), and so is every query value, since any of them may be a
    credential (``sig=``, ``token=``), not only the ones the conventions list."""
    parsed = url if isinstance(url, URL) else URL(url)
    if parsed.user is not None or parsed.password is not None:
        parsed = parsed.with_user(REDACTED).with_password(REDACTED)
    if parsed.raw_query_string:
        parsed = parsed.with_query([(key, REDACTED) for key in parsed.query])
    return str(parsed.with_fragment(None))


def http_client_facts(
    method: str,
    url: str | URL,
    *,
    status: int | None = None,
    error: BaseException | str | None = None,
    url_is_secret: bool = False,
) -> dict[str, str]:
    """The HTTP client span's facts of one request: ``http.request.method``, ``url.full``
    (redacted), ``server.address``, ``server.port``, ``http.response.status_code`` when an
    answer came, and ``error.type``: the exception's type name when none came, else the
    status code for 4xx and 5xx answers. A URL given as a secret (a signed Workflows URL)
    is not described at all: no part of it, host and port included, is shown."""
    parsed = url if isinstance(url, URL) else URL(url)
    facts = {"http.request.method": method.upper(), "network.protocol.name": "http"}
    if not url_is_secret:
        facts["url.full"] = redacted_url(parsed)
        if parsed.host:
            facts["server.address"] = parsed.host
        if parsed.port is not None:
            facts["server.port"] = str(parsed.port)
    if status is not None:
        facts["http.response.status_code"] = str(status)
        if status >= 400:
            facts["error.type"] = str(status)
    if error is not None:
        facts["error.type"] = error if isinstance(error, str) else type(error).__qualname__
    return facts


def connection_facts(
    protocol: str,
    host: str,
    port: int,
    *,
    error: BaseException | str | None = None,
    version: str | None = None,
) -> dict[str, str]:
    """The client span's facts of one exchange over another protocol (``smtp``,
    ``sftp``...): ``network.protocol.name``, ``server.address``, ``server.port``, and
    ``error.type`` (the exception's type name, or a short word) when it failed."""
    facts = {"network.protocol.name": protocol, "server.address": host, "server.port": str(port)}
    if version:
        facts["network.protocol.version"] = version
    if error is not None:
        facts["error.type"] = error if isinstance(error, str) else type(error).__qualname__
    return facts


def with_facts(result: DeliveryResult, facts: Mapping[str, str]) -> DeliveryResult:
    """``result`` with ``facts`` added to its details (its own details win)."""
    return replace(result, details={**facts, **result.details})
