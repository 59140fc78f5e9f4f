"""Who makes the RPC being served, and what it may do, for servicers to ask.

The authentication interceptor (:class:`~backchannel.api.interceptors.authentication.
Authentication`, inside error mapping, see :func:`~backchannel.api.interceptors.
api_interceptors`) establishes the caller from the call's bearer token or client
certificate and serves the call inside :func:`calling_as`; servicers read it with
:func:`current_caller`. It is a context variable, so it holds for the whole call, a
stream's items included, and never leaks into another call. With authentication off no
interceptor is installed and every call is :data:`ANONYMOUS`, which may do everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum

from backchannel.model import Grant


class CallerKind(StrEnum):
    #: Nobody checked (authentication is off).
    ANONYMOUS = "anonymous"
    #: Known by a bearer token.
    TOKEN = "token"
    #: Known by a verified client certificate.
    CERTIFICATE = "certificate"
    #: A command run against the database directly (``backchannel tokens bootstrap``).
    LOCAL = "local"


@dataclass(frozen=True)
class Caller:
    """The caller of one RPC, as authentication established it."""

    #: Who it is: a token's name, a certificate's identity; "anonymous" when unknown.
    name: str
    #: Whether authentication established it (False: nobody checked).
    authenticated: bool = False
    #: What it may do; by default everything (anonymous callers with authentication off).
    grant: Grant = field(default_factory=Grant)
    kind: CallerKind = CallerKind.ANONYMOUS
    #: The id of the token it presented, if it presented one.
    token_id: str = ""

    @property
    def identity(self) -> str:
        """Who it is, in one line fit for records: a token's name and id, a certificate
        identity, or "anonymous"."""
        return f"{self.name} ({self.token_id})" if self.token_id else self.name


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
