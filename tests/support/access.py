"""Calling a server that requires credentials: the first admin token made on the database
(as ``backchannel tokens bootstrap`` does), narrower tokens made through TokenService, and
stubs that send a token with every call."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
from backchannel_client.v1 import (
    audit_service_pb2_grpc,
    batch_service_pb2_grpc,
    delivery_service_pb2_grpc,
    feedback_service_pb2_grpc,
    recipient_service_pb2_grpc,
    token_service_pb2,
    token_service_pb2_grpc,
)
from google.protobuf import duration_pb2

from backchannel.local_tokens import bootstrap_token
from backchannel.store.database import create_pool
from support.in_process_server import serving

Metadata = tuple[tuple[str, str], ...]


def bearer(token_text: str) -> Metadata:
    return (("authorization", f"Bearer {token_text}"),)


class _Sending:
    """A stub whose every call also carries ``metadata``."""

    def __init__(self, stub: Any, metadata: Metadata) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)
        metadata = self._metadata

        def call(request: Any, **options: Any) -> Any:
            extra = tuple(options.pop("metadata", ()))
            return method(request, metadata=metadata + extra, **options)

        return call


@dataclass
class Calls:
    """The services of one server, called with one set of credentials."""

    feedback: Any
    recipients: Any
    deliveries: Any
    tokens: Any
    audit: Any
    batches: Any


def calls_as(channel: grpc.aio.Channel, token_text: str | None) -> Calls:
    """Stubs on ``channel`` sending ``token_text`` (None: no credentials)."""
    metadata = bearer(token_text) if token_text is not None else ()
    return Calls(
        feedback=_Sending(feedback_service_pb2_grpc.FeedbackServiceStub(channel), metadata),
        recipients=_Sending(recipient_service_pb2_grpc.RecipientServiceStub(channel), metadata),
        deliveries=_Sending(delivery_service_pb2_grpc.DeliveryServiceStub(channel), metadata),
        tokens=_Sending(token_service_pb2_grpc.TokenServiceStub(channel), metadata),
        audit=_Sending(audit_service_pb2_grpc.AuditServiceStub(channel), metadata),
        batches=_Sending(batch_service_pb2_grpc.BatchServiceStub(channel), metadata),
    )


@dataclass(frozen=True)
class Token:
    text: str
    id: str


async def bootstrap_admin(database_url: str, name: str = "admin") -> Token:
    """A token with every scope, made on the database directly."""
    pool = await create_pool(database_url, 1)
    try:
        text, record = await bootstrap_token(pool, name, "tester@tests")
    finally:
        await pool.close()
    return Token(text, record.id)


async def new_token(
    admin: Calls,
    name: str,
    scopes: Iterable[str],
    sources: Iterable[str] = (),
    recipients: Iterable[str] = (),
    ttl: timedelta | None = None,
) -> Token:
    """A token made through TokenService by ``admin``."""
    request = token_service_pb2.CreateTokenRequest(
        name=name, scopes=list(scopes), source_ids=list(sources), recipient_ids=list(recipients)
    )
    if ttl is not None:
        duration = duration_pb2.Duration()
        duration.FromTimedelta(ttl)
        request.ttl.CopyFrom(duration)
    answer = await admin.tokens.CreateToken(request)
    return Token(answer.secret, answer.token.id)


@dataclass
class Secured:
    """A server requiring credentials, and its admin's calls."""

    running: Any
    admin: Calls
    admin_token: Token

    def as_token(self, token: Token | str | None) -> Calls:
        text = token.text if isinstance(token, Token) else token
        return calls_as(self.running.channel, text)


@contextlib.asynccontextmanager
async def secured_server(database_url: str, **overrides: Any) -> AsyncIterator[Secured]:
    """An in-process server with authentication on (loopback) and its admin token."""
    async with serving(database_url, auth="on", **overrides) as running:
        token = await bootstrap_admin(database_url)
        yield Secured(running, calls_as(running.channel, token.text), token)
