"""Backchannel's ``email`` transport: feedback as email over SMTP, always with TLS."""

from __future__ import annotations

from backchannel.plugin import RegisterTransport, hookimpl

from ._settings import EmailSettings
from ._transport import EmailTransport

__all__ = ["EmailSettings", "EmailTransport", "register_transports"]


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Registers the ``email`` transport."""
    register(EmailTransport())
