"""What an attempt's event keeps of the transport's own report, beside its outcome: the
bytes it says it put on the wire, and its details.

``content_size`` and ``content_sha256`` always describe what the formatter produced (or the
batch file the host built). The transmitted size and digest are the transport's: a Teams
card built from the document, a gzipped upload, a MIME message. A transport that reports
neither (``bytes_sent`` 0, no ``sha256_sent``) leaves them unset, and the event says only
what the formatter produced. A size without a digest is recorded as a size alone.

Details are shown on the event, all but the client span's facts (``SPAN_FACTS``: method,
URL, server address, protocol, error type), which the span already carries. The host has
redacted and capped them (``redaction.Redactor.result``) before they get here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backchannel.plugin import DeliveryResult
from backchannel.plugin_support import SPAN_FACTS

_SHA256_HEX = re.compile("[0-9a-f]{64}")


@dataclass(frozen=True)
class ReportedFacts:
    #: None when the transport did not say what it transmitted.
    transmitted_size: int | None
    #: Lower-case hex; empty when the transport gave no (well-formed) digest.
    transmitted_sha256: str
    details: tuple[tuple[str, str], ...]


def reported_facts(result: DeliveryResult) -> ReportedFacts:
    digest = (result.sha256_sent or "").lower()
    if not _SHA256_HEX.fullmatch(digest):
        digest = ""
    size = max(result.bytes_sent, 0)
    return ReportedFacts(
        transmitted_size=size if digest or size else None,
        transmitted_sha256=digest,
        details=tuple(
            (key, value) for key, value in result.details.items() if key not in SPAN_FACTS
        ),
    )
