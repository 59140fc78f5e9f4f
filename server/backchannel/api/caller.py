"""Who makes the RPC being served, for servicers to ask.

An authentication interceptor (a :class:`~backchannel.api.interceptors.MethodInterceptor`
placed inside error mapping, see :func:`~backchannel.api.interceptors.api_interceptors`)
establishes the caller from the call's metadata or peer certificate and serves the call
inside :func:`calling_as`; servicers read it with :func:`current_caller`. It is a context
variable, so it holds for the whole call, a stream's items included, and never leaks
into another call. Until such an interceptor is installed every call is
:data:`ANONYMOUS`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """The caller of one RPC, as authentication established it."""

    #: Who it is: a token's owner, a certificate's identity; "anonymous" when unknown.
    name: str
    #: Whether authentication established it (False: nobody checked).
    authenticated: bool = False


ANONYMOUS = Caller("anonymous")

_caller: ContextVar[Caller] = ContextVar("backchannel_caller", default=ANONYMOUS)


def current_caller() -> Caller:
    """The caller of the RPC being served (ANONYMOUS outside :func:`calling_as`)."""
    return _caller.get()


@contextmanager
def calling_as(caller: Caller) -> Iterator[Caller]:
    """Serves what runs inside as a call from ``caller``."""
    token = _caller.set(caller)
    try:
        yield caller
    finally:
        _caller.reset(token)
