"""Conformance tests for Backchannel transports and formatters, for plugin authors.

Subclass :class:`TransportConformance` or :class:`FormatterConformance` in your plugin's
tests and provide the fixtures they name; Backchannel's own plugins pass the same suite.
See ``docs/writing-a-transport-plugin.md``.
"""

from __future__ import annotations

from backchannel.testing._formatter_suite import FormatterConformance
from backchannel.testing._samples import (
    SAMPLE_DOCUMENTS,
    loopback_context,
    sample_content,
    sample_message,
    unused_port,
)
from backchannel.testing._secrets import secret_values
from backchannel.testing._transport_suite import (
    Arrival,
    ReceivedPayloads,
    TransportConformance,
)

__all__ = [
    "SAMPLE_DOCUMENTS",
    "Arrival",
    "FormatterConformance",
    "ReceivedPayloads",
    "TransportConformance",
    "loopback_context",
    "sample_content",
    "sample_message",
    "secret_values",
    "unused_port",
]
