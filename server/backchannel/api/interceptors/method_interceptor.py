"""The base of Backchannel's server interceptors: one that wraps the method handlers of
some services, each once.

grpc.aio asks every interceptor for the method handler of every call. A
:class:`MethodInterceptor` builds its wrapped handler the first time a method is called
and keeps it by method name, so later calls pay for a dictionary lookup, not for wrapping
again. The handler it was built from is kept too: should the handlers inside it change
(an interceptor inside it returning a new handler for a call), it wraps again rather
than answer with a stale one. Interceptors inside a MethodInterceptor should therefore
return the same handler for a method every call, as MethodInterceptors do.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc

#: A grpc.RpcMethodHandler; its type stubs describe synchronous behaviours only.
MethodHandler = Any
ServicerContext = grpc.aio.ServicerContext[Any, Any]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[MethodHandler]]


class MethodInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # generic in stubs only
    """Wraps the method handlers of ``services`` (full names, e.g.
    ``backchannel.v1.FeedbackService``); other services' calls pass through untouched."""

    def __init__(self, services: Iterable[str]) -> None:
        self._services = frozenset(services)
        #: Method -> (the handler inside, the handler wrapped around it).
        self._wrapped: dict[str, tuple[MethodHandler, MethodHandler]] = {}

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> MethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        kept = self._wrapped.get(method)
        if kept is not None and kept[0] is handler:
            return kept[1]
        if handler is None or method[1:].rpartition("/")[0] not in self._services:
            return handler
        wrapped = self.wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    @abc.abstractmethod
    def wrap(self, method: str, handler: MethodHandler) -> MethodHandler:
        """The handler to serve ``method`` (``/package.Service/Method``) with, built
        around ``handler``; called once per method."""


def unary_handler(
    behaviour: Callable[[Any, ServicerContext], Awaitable[Any]],
    like: MethodHandler,
    request_deserializer: Callable[[bytes], Any] | None,
) -> MethodHandler:
    """A unary handler serving with ``behaviour``, answering as ``like`` does."""
    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=request_deserializer,
        response_serializer=like.response_serializer,
    )


def stream_handler(
    behaviour: Callable[[Any, ServicerContext], Awaitable[None]],
    like: MethodHandler,
    request_deserializer: Callable[[bytes], Any] | None,
) -> MethodHandler:
    """A server-streaming handler whose ``behaviour`` writes its items with
    ``context.write``, answering as ``like`` does. Items may also be messages serialized
    already (``bytes``), written as they are: a stream that sends one message to many
    subscribers serializes it once."""
    serialize = like.response_serializer

    def serialized(item: Any) -> bytes:
        if type(item) is bytes:
            return item
        data: bytes = serialize(item) if serialize is not None else item
        return data

    return grpc.unary_stream_rpc_method_handler(
        behaviour,
        request_deserializer=request_deserializer,
        response_serializer=serialized,
    )
