"""Reading an HTTP answer into the parts of a :class:`~backchannel.plugin.DeliveryResult`:
whether to retry, how long the remote asked us to wait, and a short excerpt with no secret
in it. Independent of the HTTP client library."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime

#: How many characters of an answer go in ``DeliveryResult.response_excerpt``.
EXCERPT_CHARS = 256
#: What stands in an excerpt where a secret was.
MASK = "***"
#: Retry-After values beyond this many seconds (about 31 years) are read as this many.
MAX_RETRY_AFTER_SECONDS = 1e9

_DELTA_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret in it replaced by ``***`` (give secrets longest first, so a
    secret that contains another is masked whole), and with no NUL character (Postgres text
    cannot hold one)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text.replace("\x00", "\ufffd")


def excerpt(body: bytes, charset: str | None, secrets: Sequence[str]) -> str:
    """The first :data:`EXCERPT_CHARS` characters of a response body, decoded leniently
    (as UTF-8 when the charset is missing or unknown) and masked."""
    try:
        text = body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    return mask(text, secrets)[:EXCERPT_CHARS]


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from ``now`` (unix seconds), read from a Retry-After value in
    delta-seconds or as an HTTP date; None when absent or unreadable. A date in the past
    means 0; anything beyond :data:`MAX_RETRY_AFTER_SECONDS` is clamped to it."""
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    seconds = when.timestamp() - now
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS) if math.isfinite(seconds) else None


def is_retryable_status(status: int) -> bool:
    """Whether an HTTP failure status may go away on its own: 408, 429 and every 5xx."""
    return status in (408, 429) or 500 <= status <= 599


def remote_id(
    headers: Mapping[str, str], names: Sequence[str], secrets: Sequence[str], max_chars: int
) -> str | None:
    """The first non-empty header among ``names`` (in order of preference), masked and cut to
    ``max_chars``: the id the remote gave the request, for ``DeliveryResult.remote_id``."""
    for name in names:
        value = headers.get(name)
        if value:
            return mask(value, secrets)[:max_chars]
    return None
