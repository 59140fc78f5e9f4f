"""Conformance tests for Backchannel transports and formatters, for plugin authors.

Subclass :class:`TransportConformance` or :class:`FormatterConformance` in your plugin's
tests and provide the fixtures they name; Backchannel's own plugins pass the same suite.
For a plugin's own tests, the host's side is here too: :func:`installed_transport` finds a
transport through its entry point, :func:`settings_problems` and :func:`parsed_settings`
read a recipient's settings as the host does, and :func:`prepare_recipient` sends and
probes as the host does (deadline, failures made results, secrets masked). See
``docs/writing-a-transport-plugin.md``.
"""

from __future__ import annotations

from backchannel.testing._formatter_suite import FormatterConformance
from backchannel.testing._host import (
    installed_formatter,
    installed_transport,
    parsed_settings,
    prepare_recipient,
    settings_problems,
)
from backchannel.testing._samples import (
    SAMPLE_DOCUMENTS,
    loopback_context,
    sample_content,
    sample_file,
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
    "installed_formatter",
    "installed_transport",
    "loopback_context",
    "parsed_settings",
    "prepare_recipient",
    "sample_content",
    "sample_file",
    "sample_message",
    "secret_values",
    "settings_problems",
    "unused_port",
]
