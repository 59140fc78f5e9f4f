"""Backchannel's ``teams`` transport: Adaptive Cards posted to Power Automate Workflows URLs."""

from __future__ import annotations

from backchannel.plugin import RegisterTransport, hookimpl

from ._settings import TeamsSettings
from ._transport import TeamsTransport

__all__ = ["TeamsSettings", "TeamsTransport", "register_transports"]


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Registers the ``teams`` transport."""
    register(TeamsTransport())
