"""What every Backchannel RPC does around its servicer method: request decoding, a server
span, and error mapping. Method handlers are wrapped once, when a service is added, so a
call pays for none of grpc.aio's per-call interceptor chain.

grpc.aio's stock handlers answer bytes that do not parse with UNKNOWN; here they are
INVALID_ARGUMENT. An ApiError becomes its google.rpc.Status; an unavailable database is
UNAVAILABLE; anything else is INTERNAL with nothing leaked. Never UNKNOWN.

The span is the one OpenTelemetry's gRPC server instrumentation would make (name = the full
method, kind SERVER, rpc.* attributes), continuing the caller's trace when the call carries
a ``traceparent``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, NoReturn

import asyncpg
import grpc
from google.protobuf.message import DecodeError
from opentelemetry import propagate, trace
from opentelemetry.context import Context as TraceContext
from opentelemetry.trace import SpanKind, Status, StatusCode

from backchannel import __version__
from backchannel.api.errors import ApiError
from backchannel.telemetry import unsampled_root_span

log = logging.getLogger(__name__)

Deserializer = Callable[[bytes], Any]
#: A grpc.RpcMethodHandler; its type stubs describe synchronous behaviours only.
MethodHandler = Any
ServicerContext = grpc.aio.ServicerContext[Any, Any]

_TRACE_HEADERS = frozenset(("traceparent", "tracestate", "baggage"))


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


def _caller_trace(context: ServicerContext) -> TraceContext | None:
    """The caller's trace context, if the call carries one (most calls do not; reading
    the metadata into a dict only then keeps the common path cheap)."""
    metadata = context.invocation_metadata() or ()
    if not any(key in _TRACE_HEADERS for key, _ in metadata):
        return None
    return propagate.extract({key: value for key, value in metadata if key in _TRACE_HEADERS})


class _RpcSpan:
    """Starts the server span of one call and ends it with the call's status code."""

    def __init__(self, method: str) -> None:
        self._tracer = trace.get_tracer("backchannel.rpc", __version__)
        self._name = method
        service, _, name = method.lstrip("/").partition("/")
        self._attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}

    def start(self, context: ServicerContext) -> trace.Span:
        caller = _caller_trace(context)
        if caller is None and (unsampled := unsampled_root_span()) is not None:
            return unsampled
        return self._tracer.start_span(
            self._name, context=caller, kind=SpanKind.SERVER, attributes=self._attributes
        )

    @staticmethod
    def end(span: trace.Span, code: grpc.StatusCode) -> None:
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code is not grpc.StatusCode.OK:
            span.set_status(Status(StatusCode.ERROR, code.name))
        span.end()


async def _abort(context: ServicerContext, error: ApiError) -> None:
    status = error.to_status()
    await context.abort(status.code, status.details, status.trailing_metadata)


class _Call:
    """One call's span and the status code it ends with."""

    def __init__(self, span_of: _RpcSpan, context: ServicerContext, method: str) -> None:
        self.span = span_of.start(context)
        self.code = grpc.StatusCode.OK
        self._context = context
        self._method = method

    async def fail(self, error: BaseException) -> NoReturn:
        """Answers the caller for ``error`` (an abort the servicer made stands)."""
        if isinstance(error, grpc.aio.AbortError):
            self.code = self._context.code() or grpc.StatusCode.UNKNOWN
            raise error
        if not isinstance(error, Exception):
            self.code = grpc.StatusCode.CANCELLED
            raise error
        failure = _as_api_error(error, self._method)
        self.code = failure.code
        await _abort(self._context, failure)
        raise AssertionError("context.abort returned")

    def end(self) -> None:
        _RpcSpan.end(self.span, self.code)


def _wrap_unary(handler: MethodHandler, method: str) -> MethodHandler:
    inner = handler.unary_unary
    deserializer = handler.request_deserializer
    span_of = _RpcSpan(method)

    async def behavior(raw: Any, context: ServicerContext) -> Any:
        call = _Call(span_of, context, method)
        try:
            with trace.use_span(call.span, end_on_exit=False):
                return await inner(_decode(deserializer, raw), context)
        except Exception as error:
            await call.fail(error)
        finally:
            call.end()

    return grpc.unary_unary_rpc_method_handler(
        behavior, request_deserializer=None, response_serializer=handler.response_serializer
    )


def _wrap_stream(handler: MethodHandler, method: str) -> MethodHandler:
    inner = handler.unary_stream
    deserializer = handler.request_deserializer
    span_of = _RpcSpan(method)

    async def behavior(raw: Any, context: ServicerContext) -> None:
        # Items are written here (grpc.aio's writer API) rather than yielded to grpc: a
        # write that fails because the client hung up mid-write ends the call as
        # CANCELLED, quietly, as a hang-up between writes does; yielded items that fail
        # to send are logged by grpc as errors of the server.
        call = _Call(span_of, context, method)
        items: AsyncGenerator[Any, None] | None = None
        try:
            with trace.use_span(call.span, end_on_exit=False):
                items = inner(_decode(deserializer, raw), context)
                async for item in items:
                    try:
                        await context.write(item)
                    except grpc.aio.InternalError:
                        raise asyncio.CancelledError("the stream's client is gone") from None
        except BaseException as error:  # a stream ended by its client ends in CancelledError
            await call.fail(error)
        finally:
            if items is not None:
                await items.aclose()
            call.end()

    return grpc.unary_stream_rpc_method_handler(
        behavior, request_deserializer=None, response_serializer=handler.response_serializer
    )


def wrap_method_handlers(
    service: str, handlers: Mapping[str, MethodHandler]
) -> dict[str, MethodHandler]:
    """Each method handler of ``service`` with decoding, its span and error mapping."""
    wrapped: dict[str, MethodHandler] = {}
    for name, handler in handlers.items():
        method = f"/{service}/{name}"
        if handler.unary_unary is not None:
            wrapped[name] = _wrap_unary(handler, method)
        elif handler.unary_stream is not None:
            wrapped[name] = _wrap_stream(handler, method)
        else:
            raise TypeError(f"{method}: only unary and server-streaming methods are wrapped")
    return wrapped


class WrappingRegistrar:
    """Stands in for the server when a generated ``add_*Servicer_to_server`` registers a
    service: the method handlers it registers reach the real server wrapped."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server: Any = server
        self.services: list[str] = []

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        # Generated code registers the same handlers again with
        # add_registered_method_handlers, where they are wrapped; nothing else may pass
        # here unwrapped.
        del handlers

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, MethodHandler]
    ) -> None:
        wrapped = wrap_method_handlers(service, handlers)
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, wrapped),)
        )
        self._server.add_registered_method_handlers(service, wrapped)
        self.services.append(service)


def add_service(
    add_servicer_to_server: Callable[[Any, Any], None], servicer: Any, server: grpc.aio.Server
) -> None:
    """Registers ``servicer`` with the generated ``add_servicer_to_server`` function, each
    method wrapped (see the module's docstring)."""
    registrar = WrappingRegistrar(server)
    add_servicer_to_server(servicer, registrar)
    if not registrar.services:
        raise RuntimeError(
            f"{add_servicer_to_server.__name__} registered no method handlers to wrap; "
            "the generated stubs are older than this server expects"
        )
