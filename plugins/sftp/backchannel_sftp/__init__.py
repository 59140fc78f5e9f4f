"""Backchannel's ``sftp`` transport: files uploaded atomically to servers whose host keys
are pinned."""

from __future__ import annotations

from backchannel.plugin import RegisterTransport, hookimpl

from ._settings import SftpSettings
from ._transport import SftpTransport

__all__ = ["SftpSettings", "SftpTransport", "register_transports"]


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Registers the ``sftp`` transport."""
    register(SftpTransport())
