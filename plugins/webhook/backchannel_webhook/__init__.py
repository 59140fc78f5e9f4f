"""Backchannel's ``webhook`` transport: signed HTTP POSTs per Standard Webhooks."""

from __future__ import annotations

from backchannel.plugin import RegisterTransport, hookimpl
from backchannel.plugin_support import refusal_reason

from ._transport import WebhookTransport

__all__ = ["WebhookTransport", "refusal_reason", "register_transports"]


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Registers the ``webhook`` transport."""
    register(WebhookTransport())
