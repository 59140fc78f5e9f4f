"""Backchannel's ``slack`` transport: a summary of each feedback posted to a Slack incoming
webhook. An example of an outside plugin, built from the plugin template."""

from __future__ import annotations

from backchannel.plugin import RegisterTransport, hookimpl

from ._transport import SlackTransport

__all__ = ["SlackTransport", "register_transports"]


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Registers the ``slack`` transport."""
    register(SlackTransport())
