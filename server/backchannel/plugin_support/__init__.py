"""Helpers a transport plugin may use, so that every transport guards, masks and words
things the same way. Part of the public plugin API, like :mod:`backchannel.plugin`.

- Outbound address guard, as the host applies it in ``TransportContext.resolve``,
  ``connect`` and ``http_connector``: :func:`refusal_reason`, :func:`is_allowlisted`,
  :class:`AllowedDestination` (an allowlist entry: a range and optionally one port),
  :func:`address_literal`, :func:`looks_like_address_literal`, :class:`DestinationRefused`.
- HTTP answers: :func:`parse_retry_after`, :func:`is_retryable_status`, :func:`excerpt`,
  :func:`mask`, :func:`remote_id`.
- Protocol facts for the host's client span (OpenTelemetry semantic conventions, in
  ``DeliveryResult.details``): :func:`http_client_facts`, :func:`connection_facts`,
  :func:`with_facts`, :func:`redacted_url`, and the keys the host reads, :data:`SPAN_FACTS`.
- What went on the wire, for the attempt's event (``DeliveryResult.bytes_sent`` and
  ``sha256_sent``): :class:`SentBytes`.
- Setting types for a transport's settings model, the same rules everywhere:
  :data:`HostName`, :data:`Port`, :data:`ConnectTimeoutSeconds`, :data:`HeaderName`,
  :data:`HeaderValue`, :data:`PemCertificates`, :data:`NoControlCharacters`, and the
  validators :func:`number_above_zero`, :func:`whole_number`, :func:`one_line`,
  :func:`one_or_more` and :func:`web_url`.

- Templates a recipient writes: :func:`template_amplifier` (constructs refused when a
  recipient is saved: ``lipsum``, large ``range``, ``**``...) and
  :func:`in_template_worker` (True in the host's template workers, where rendering a
  template to check it is safe).

Transports built on aiohttp also find bounded reads, error descriptions and the guarded
resolver in :mod:`backchannel.plugin_support.aiohttp`.
"""

from __future__ import annotations

from backchannel.outbound import (
    AllowedDestination,
    DestinationRefused,
    IPAddress,
    address_literal,
    embedded_ipv4,
    is_allowlisted,
    looks_like_address_literal,
    refusal_reason,
)
from backchannel.template_worker import in_template_worker

from ._http_answers import (
    EXCERPT_CHARS,
    MASK,
    MAX_RETRY_AFTER_SECONDS,
    excerpt,
    is_retryable_status,
    mask,
    parse_retry_after,
    remote_id,
)
from ._semconv import (
    SPAN_FACTS,
    connection_facts,
    http_client_facts,
    redacted_url,
    with_facts,
)
from ._sent_bytes import SentBytes
from ._settings import (
    ConnectTimeoutSeconds,
    HeaderName,
    HeaderValue,
    HostName,
    NoControlCharacters,
    PemCertificates,
    Port,
    number_above_zero,
    one_line,
    one_or_more,
    web_url,
    whole_number,
)
from ._templates import MAX_FACTOR, MAX_RANGE, template_amplifier

__all__ = [
    "EXCERPT_CHARS",
    "MASK",
    "MAX_FACTOR",
    "MAX_RANGE",
    "MAX_RETRY_AFTER_SECONDS",
    "SPAN_FACTS",
    "AllowedDestination",
    "ConnectTimeoutSeconds",
    "DestinationRefused",
    "HeaderName",
    "HeaderValue",
    "HostName",
    "IPAddress",
    "NoControlCharacters",
    "PemCertificates",
    "Port",
    "SentBytes",
    "address_literal",
    "connection_facts",
    "embedded_ipv4",
    "excerpt",
    "http_client_facts",
    "in_template_worker",
    "is_allowlisted",
    "is_retryable_status",
    "looks_like_address_literal",
    "mask",
    "number_above_zero",
    "one_line",
    "one_or_more",
    "parse_retry_after",
    "redacted_url",
    "refusal_reason",
    "remote_id",
    "template_amplifier",
    "web_url",
    "whole_number",
    "with_facts",
]
