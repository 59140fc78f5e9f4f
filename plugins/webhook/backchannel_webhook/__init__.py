"""Backchannel's ``webhook`` transport: signed HTTP POSTs per Standard Webhooks."""

from __future__ import annotations

from backchannel.plugin import RegisterTransport, hookimpl

from ._settings import WebhookSettings
from ._transport import WebhookTransport

__all__ = ["WebhookSettings", "WebhookTransport", "register_transports"]


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Registers the ``webhook`` transport."""
    register(WebhookTransport())
