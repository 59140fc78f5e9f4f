"""Backchannel's ``sftp`` transport: files uploaded atomically to servers whose host keys
are pinned."""

from __future__ import annotations

from backchannel.plugin import RegisterTransport, hookimpl
from backchannel.plugin_support import refusal_reason

from ._transport import SftpTransport

__all__ = ["SftpTransport", "refusal_reason", "register_transports"]


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Registers the ``sftp`` transport."""
    register(SftpTransport())
