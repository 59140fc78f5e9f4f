"""Cross-cutting work around every RPC: request decoding and error mapping.

grpc.aio's stock handlers answer bytes that do not parse with UNKNOWN; here they are
INVALID_ARGUMENT. An ApiError becomes its google.rpc.Status; an unavailable database is
UNAVAILABLE; anything else is INTERNAL with nothing leaked. Never UNKNOWN.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import grpc
from google.protobuf.message import DecodeError

from backchannel.api.errors import ApiError

log = logging.getLogger(__name__)

Deserializer = Callable[[bytes], Any]


def _decode(deserializer: Deserializer | None, raw: Any) -> Any:
    if deserializer is None:
        return raw
    try:
        return deserializer(raw)
    except (DecodeError, ValueError, TypeError) as error:
        raise ApiError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "MALFORMED_REQUEST",
            "request bytes are not a valid message of the method's request type",
        ) from error


def _as_api_error(error: BaseException, method: str) -> ApiError:
    if isinstance(error, ApiError):
        return error
    if isinstance(
        error,
        (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
            OSError,
        ),
    ) or (
        isinstance(error, asyncpg.PostgresError)
        and getattr(error, "sqlstate", "")[:2] in ("08", "57")
    ):
        log.warning("%s: database unavailable: %s", method, type(error).__name__)
        return ApiError(
            grpc.StatusCode.UNAVAILABLE,
            "DATABASE_UNAVAILABLE",
            "the database is unavailable; nothing was stored; retry with the same request_id",
        )
    log.exception("%s failed", method)
    return ApiError(grpc.StatusCode.INTERNAL, "INTERNAL", "internal error")


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: ApiError) -> None:
    status = error.to_status()
    await context.abort(status.code, status.details, status.trailing_metadata)


def _wrap_unary(
    handler: Any, method: str
) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
    inner = handler.unary_unary
    deserializer = handler.request_deserializer

    async def behavior(raw: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await inner(_decode(deserializer, raw), context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, _as_api_error(error, method))

    return behavior


def _wrap_stream(
    handler: Any, method: str
) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]:
    inner = handler.unary_stream
    deserializer = handler.request_deserializer

    async def behavior(raw: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        try:
            async for item in inner(_decode(deserializer, raw), context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, _as_api_error(error, method))

    return behavior


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith("/backchannel."):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler, method),
                request_deserializer=None,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler, method),
                request_deserializer=None,
                response_serializer=handler.response_serializer,
            )
        return handler
