"""Backchannel's ``myplugin`` transport. TODO: say what it delivers, and where."""

from __future__ import annotations

from backchannel.plugin import RegisterTransport, hookimpl

from ._transport import MySettings, MyTransport

__all__ = ["MySettings", "MyTransport", "register_transports"]


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Called once by the host at start-up."""
    register(MyTransport())
