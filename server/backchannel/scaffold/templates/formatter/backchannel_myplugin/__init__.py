"""Backchannel's ``myplugin`` format. TODO: say what it renders feedback as."""

from __future__ import annotations

from backchannel.plugin import RegisterFormatter, hookimpl

from ._formatter import MyFormatter

__all__ = ["MyFormatter", "register_formatters"]


@hookimpl
def register_formatters(register: RegisterFormatter) -> None:
    """Called once by the host at start-up."""
    register(MyFormatter())
