"""The server span of every call.

The span is the one OpenTelemetry's gRPC server instrumentation would make (name = the
full method, kind SERVER, rpc.* attributes), continuing the caller's trace when the call
carries a ``traceparent``, and ending with the call's status code. It is current while
the call is served, so what the call stores (the outbox row's ``traceparent``) and the
spans it starts belong to it. Outermost of the interceptors, so it sees the code every
other one answers with.
"""

from __future__ import annotations

import inspect
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.context import Context as TraceContext
from opentelemetry.trace import SpanKind, Status, StatusCode

from backchannel import __version__
from backchannel.api.interceptors.method_interceptor import (
    MethodHandler,
    MethodInterceptor,
    ServicerContext,
    stream_handler,
    unary_handler,
)
from backchannel.telemetry import unsampled_root_span

_TRACE_HEADERS = frozenset(("traceparent", "tracestate", "baggage"))


def _caller_trace(context: ServicerContext) -> TraceContext | None:
    """The caller's trace context, if the call carries one (most calls do not; reading
    the metadata into a dict only then keeps the common path cheap)."""
    metadata = context.invocation_metadata() or ()
    if not any(key in _TRACE_HEADERS for key, _ in metadata):
        return None
    return propagate.extract({key: value for key, value in metadata if key in _TRACE_HEADERS})


def _code_of(error: BaseException, context: ServicerContext) -> grpc.StatusCode:
    """The status a call that raised ``error`` ends with: what it aborted with, else
    CANCELLED for a call cancelled (its client gone), else grpc's own UNKNOWN."""
    if not isinstance(error, Exception):
        return grpc.StatusCode.CANCELLED
    code: grpc.StatusCode | None = context.code()
    return code or grpc.StatusCode.UNKNOWN


class _RpcSpan:
    """Starts the server span of one call of a method and ends it with a status code."""

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


class RpcTracing(MethodInterceptor):
    """Serves each call inside its server span (see the module's docstring). Streams must
    reach it written with ``context.write``, as :class:`ErrorMapping` serves them."""

    def wrap(self, method: str, handler: MethodHandler) -> MethodHandler:
        span_of = _RpcSpan(method)
        deserializer = handler.request_deserializer
        if handler.unary_unary is not None:
            return unary_handler(_traced(handler.unary_unary, span_of), handler, deserializer)
        if handler.unary_stream is not None and inspect.iscoroutinefunction(handler.unary_stream):
            return stream_handler(_traced(handler.unary_stream, span_of), handler, deserializer)
        raise TypeError(
            f"{method}: only unary methods and server-streaming ones written with "
            "context.write (ErrorMapping inside RpcTracing serves them so) are traced"
        )


def _traced(inner: Any, span_of: _RpcSpan) -> Any:
    async def behaviour(request: Any, context: ServicerContext) -> Any:
        span = span_of.start(context)
        code = grpc.StatusCode.OK
        try:
            with trace.use_span(span, end_on_exit=False):
                return await inner(request, context)
        except BaseException as error:
            code = _code_of(error, context)
            raise
        finally:
            _RpcSpan.end(span, code)

    return behaviour
