"""Request decoding and error mapping: what a caller hears when a call fails.

grpc.aio's stock handlers answer bytes that do not parse with UNKNOWN ("Unexpected
DecodeError"); here the handler is served without grpc's deserializer and decodes the
bytes itself, so they are INVALID_ARGUMENT (``MALFORMED_REQUEST``). Every decoded request
then passes the request guard (:mod:`backchannel.api.request_guard`: no NUL, no
non-finite number, no out-of-range time anywhere, sizes capped) before its servicer sees
it, so no field of any RPC reaches the store with what it cannot hold. An ApiError becomes its
google.rpc.Status; an unavailable database is UNAVAILABLE; anything else is INTERNAL with
nothing leaked. Never UNKNOWN. An abort the servicer made stands.

Streams are written here with ``context.write`` rather than yielded to grpc: a write that
fails because the client hung up mid-write ends the call as CANCELLED, quietly, as a
hang-up between writes does; yielded items that fail to send are logged by grpc as errors
of the server.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError

from backchannel.api.errors import ApiError
from backchannel.api.interceptors.method_interceptor import (
    MethodHandler,
    MethodInterceptor,
    ServicerContext,
    stream_handler,
    unary_handler,
)
from backchannel.api.request_guard import RequestGuard
from backchannel.store.database import CommitOutcomeUnknownError, is_unavailable

log = logging.getLogger(__name__)

Deserializer = Callable[[bytes], Any]


def _decoder(deserializer: Deserializer | None, guard: RequestGuard) -> Callable[[Any], Any]:
    """Turns a call's request bytes into the checked request message."""

    def decode(raw: Any) -> Any:
        if deserializer is None:
            return raw
        try:
            request = deserializer(raw)
        except (DecodeError, ValueError, TypeError) as error:
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "MALFORMED_REQUEST",
                "request bytes are not a valid message of the method's request type",
            ) from error
        guard.check(request, len(raw))
        return request

    return decode


#: Methods that change nothing: an outage during one cannot have changed anything.
_READS = ("/Get", "/List", "/Stream", "/TestRecipient")


def unavailable_message(method: str) -> str:
    """What an outage during ``method`` means for the caller. SendFeedback resolves a
    write whose commit may have landed before answering (see intake), so its outage
    stored nothing; another write (a recipient change, an operator action) may have
    been committed just as the connection was lost, which only reading it back tells."""
    name = method.rpartition("/")[2]
    if name == "SendFeedback":
        return "the database is unavailable; nothing was stored; retry with the same request_id"
    if any(f"/{name}".startswith(prefix) for prefix in _READS):
        return "the database is unavailable; retry"
    return (
        "the database is unavailable; the change was most likely not made, but if the "
        "connection was lost while it was being committed it may have been: read it back "
        "before retrying"
    )


def _as_api_error(error: Exception, method: str) -> ApiError:
    if isinstance(error, ApiError):
        return error
    if isinstance(error, CommitOutcomeUnknownError):
        log.warning("%s: database connection lost mid-write; outcome unknown", method)
        return ApiError(
            grpc.StatusCode.UNAVAILABLE,
            "COMMIT_OUTCOME_UNKNOWN",
            "the database connection was lost while this request was being stored, and "
            "whether it was stored could not be found out; retry with the same request_id "
            "(it is then stored once, or its first answer returned)",
        )
    if is_unavailable(error):
        log.warning("%s: database unavailable: %s", method, type(error).__name__)
        return ApiError(
            grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE", unavailable_message(method)
        )
    log.exception("%s failed", method)
    return ApiError(grpc.StatusCode.INTERNAL, "INTERNAL", "internal error")


async def _fail(context: ServicerContext, error: Exception, method: str) -> NoReturn:
    """Answers the caller for ``error``."""
    if isinstance(error, grpc.aio.AbortError):
        raise error
    status = _as_api_error(error, method).to_status()
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")


class ErrorMapping(MethodInterceptor):
    """Decodes and checks requests and maps failures (see the module's docstring).
    Authentication goes inside it, so its refusals are answered as every other error."""

    def __init__(self, services: Iterable[str], guard: RequestGuard | None = None) -> None:
        super().__init__(services)
        self._guard = guard or RequestGuard()

    def wrap(self, method: str, handler: MethodHandler) -> MethodHandler:
        decode = _decoder(handler.request_deserializer, self._guard)
        if handler.unary_unary is not None:
            return unary_handler(_unary(handler, method, decode), handler, None)
        if handler.unary_stream is not None and inspect.isasyncgenfunction(handler.unary_stream):
            return stream_handler(_stream(handler, method, decode), handler, None)
        raise TypeError(
            f"{method}: only unary methods and server-streaming ones written as async "
            "generators are served"
        )


def _unary(handler: MethodHandler, method: str, decode: Callable[[Any], Any]) -> Any:
    inner = handler.unary_unary

    async def behaviour(raw: Any, context: ServicerContext) -> Any:
        try:
            return await inner(decode(raw), context)
        except Exception as error:
            await _fail(context, error, method)

    return behaviour


def _stream(handler: MethodHandler, method: str, decode: Callable[[Any], Any]) -> Any:
    inner = handler.unary_stream

    async def behaviour(raw: Any, context: ServicerContext) -> None:
        items: AsyncGenerator[Any, None] | None = None
        try:
            items = inner(decode(raw), context)
            async for item in items:
                try:
                    await context.write(item)
                except grpc.aio.InternalError:
                    raise asyncio.CancelledError("the stream's client is gone") from None
        except Exception as error:  # a stream its client ended ends in CancelledError
            await _fail(context, error, method)
        finally:
            if items is not None:
                await items.aclose()

    return behaviour
