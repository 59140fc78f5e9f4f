"""Helpers a transport plugin may use, so that every transport guards, masks and words
things the same way. Part of the public plugin API, like :mod:`backchannel.plugin`.

- Outbound address guard, as the host applies it in ``TransportContext.resolve``,
  ``connect`` and ``http_connector``: :func:`refusal_reason`, :func:`is_allowlisted`,
  :func:`address_literal`, :func:`looks_like_address_literal`, :class:`DestinationRefused`.
- HTTP answers: :func:`parse_retry_after`, :func:`is_retryable_status`, :func:`excerpt`,
  :func:`mask`, :func:`remote_id`.
- Settings checks: :func:`setting_name_problems`, :func:`positive_number`; reading a
  recipient's settings once per revision: :class:`SettingsMemo`.

These need only the standard library. Transports built on aiohttp also find a guarded
resolver and error descriptions in :mod:`backchannel.plugin_support.aiohttp`.
"""

from __future__ import annotations

from backchannel.outbound import (
    DestinationRefused,
    IPAddress,
    address_literal,
    embedded_ipv4,
    is_allowlisted,
    looks_like_address_literal,
    refusal_reason,
)

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
from ._settings import PLAIN, SECRET, positive_number, setting_name_problems
from ._settings_memo import SettingsMemo

__all__ = [
    "EXCERPT_CHARS",
    "MASK",
    "MAX_RETRY_AFTER_SECONDS",
    "PLAIN",
    "SECRET",
    "DestinationRefused",
    "IPAddress",
    "SettingsMemo",
    "address_literal",
    "embedded_ipv4",
    "excerpt",
    "is_allowlisted",
    "is_retryable_status",
    "looks_like_address_literal",
    "mask",
    "parse_retry_after",
    "positive_number",
    "refusal_reason",
    "remote_id",
    "setting_name_problems",
]
