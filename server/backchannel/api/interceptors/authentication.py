"""Authentication and authorisation of every call: who calls (a bearer token, else a
verified client certificate) and whether it holds the scope the method needs.

A call carrying ``authorization: Bearer bck_...`` is the token's caller; a call over
mTLS without one is the certificate's identity, granted what ``certificate_grants`` says
(nothing, if it says nothing). Missing or bad credentials are UNAUTHENTICATED; a caller
without the method's scope (api/method_scopes.py) is PERMISSION_DENIED, with an
ErrorInfo naming the scope. Neither says anything about what is stored. The call is then
served inside :func:`~backchannel.api.caller.calling_as`, and servicers narrow what they
read and refuse what the caller's grant does not cover.

Installed inside :class:`ErrorMapping` (see :func:`api_interceptors`), so its refusals are
answered and traced as every other error. Health and reflection are not wrapped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import grpc

from backchannel.api.caller import Caller, CallerKind, calling_as
from backchannel.api.errors import ApiError
from backchannel.api.interceptors.method_interceptor import (
    MethodHandler,
    MethodInterceptor,
    ServicerContext,
    unary_handler,
)
from backchannel.api.method_scopes import METHOD_SCOPES
from backchannel.api.peer_identity import peer_identity
from backchannel.api.token_verifier import TokenVerifier
from backchannel.model import Grant, Scope
from backchannel.token_secrets import TOKEN_TEXT

_NO_GRANT = Grant(scopes=frozenset())


def _unauthenticated(reason: str, message: str) -> ApiError:
    return ApiError(grpc.StatusCode.UNAUTHENTICATED, reason, message)


class Authentication(MethodInterceptor):
    """Establishes the caller of every call of ``services`` and checks its scope (see the
    module's docstring)."""

    def __init__(
        self,
        services: Iterable[str],
        tokens: TokenVerifier,
        certificate_grants: Mapping[str, Grant],
    ) -> None:
        super().__init__(services)
        self._tokens = tokens
        self._certificate_grants = dict(certificate_grants)

    def wrap(self, method: str, handler: MethodHandler) -> MethodHandler:
        scope = METHOD_SCOPES.get(method)
        deserializer = handler.request_deserializer
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: ServicerContext) -> Any:
                with calling_as(await self._allowed(context, method, scope)):
                    return await inner(request, context)

            return unary_handler(unary, handler, deserializer)
        stream = handler.unary_stream

        async def items(request: Any, context: ServicerContext) -> AsyncIterator[Any]:
            with calling_as(await self._allowed(context, method, scope)):
                async for item in stream(request, context):
                    yield item

        return grpc.unary_stream_rpc_method_handler(
            items,
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )

    async def _allowed(self, context: ServicerContext, method: str, scope: Scope | None) -> Caller:
        caller = await self._caller(context)
        if scope is None:  # a method missing from the table: refused until it is added
            raise ApiError(
                grpc.StatusCode.PERMISSION_DENIED,
                "METHOD_NOT_GRANTED",
                f"{method} is not granted to any caller",
            )
        if scope not in caller.grant.scopes:
            raise ApiError(
                grpc.StatusCode.PERMISSION_DENIED,
                "SCOPE_MISSING",
                f"this call needs the scope {scope.value}, which the caller does not hold",
                metadata={"scope": scope.value},
            )
        return caller

    async def _caller(self, context: ServicerContext) -> Caller:
        headers = [v for k, v in context.invocation_metadata() or () if k == "authorization"]
        if headers:
            return await self._token_caller(headers)
        identity = peer_identity(context)
        if identity is not None:
            return Caller(
                identity,
                authenticated=True,
                grant=self._certificate_grants.get(identity, _NO_GRANT),
                kind=CallerKind.CERTIFICATE,
            )
        raise _unauthenticated(
            "CREDENTIALS_MISSING",
            "this call needs credentials: `authorization: Bearer bck_...` metadata or a "
            "client certificate",
        )

    async def _token_caller(self, headers: list[Any]) -> Caller:
        scheme, _, text = str(headers[0]).strip().partition(" ")
        text = text.strip()
        if len(headers) > 1 or scheme.lower() != "bearer" or not TOKEN_TEXT.fullmatch(text):
            raise _unauthenticated(
                "CREDENTIALS_MALFORMED",
                "the authorization metadata must be one `Bearer bck_...` token",
            )
        caller = await self._tokens.caller_for(text)
        if caller is None:
            raise _unauthenticated(
                "TOKEN_INVALID", "the bearer token is unknown, revoked or expired"
            )
        return caller
