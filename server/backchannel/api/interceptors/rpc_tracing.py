"""The server span of every call, and its duration.

The span follows OpenTelemetry's RPC semantic conventions for gRPC servers: named
``backchannel.v1.FeedbackService/SendFeedback`` (service/method, no leading slash), kind
SERVER, with ``rpc.system``, ``rpc.service``, ``rpc.method``, ``rpc.grpc.status_code``,
``server.address``/``server.port`` (where the server listens) and
``client.address``/``client.port`` (the peer). It continues the caller's trace when the call
carries a ``traceparent``, and ends with the call's status code; only the codes the
conventions count as the server's fault (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
INTERNAL, UNAVAILABLE, DATA_LOSS) make it an ERROR span, so a stream the client cancels or
a request refused as invalid is not one. It is current while the call is served, so what
the call stores (the outbox row's ``traceparent``) and the spans it starts belong to it.
Outermost of the interceptors, so it sees the code every other one answers with.

Every call's duration is recorded in ``rpc.server.call.duration`` (seconds) with the
span's ``rpc.*`` attributes.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterable
from dataclasses import dataclass
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
from backchannel.metrics import record_rpc_duration
from backchannel.telemetry import unsampled_root_span

_TRACE_HEADERS = frozenset(("traceparent", "tracestate", "baggage"))

#: The codes OpenTelemetry's RPC conventions make an ERROR server span: the server's
#: fault, not the caller's.
SERVER_ERRORS = frozenset(
    (
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    )
)


@dataclass
class ServerAddress:
    """Where the server listens, for the spans' ``server.address`` and ``server.port``;
    filled in once the port is bound (it may be chosen by the system)."""

    host: str = ""
    port: int = 0


def peer_address(peer: str) -> tuple[str, int | None]:
    """(address, port) of a grpc peer string (``ipv4:127.0.0.1:5555``,
    ``ipv6:[::1]:5555``, ``unix:/path``)."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return rest or peer, None
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else None


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

    def __init__(self, method: str, address: ServerAddress) -> None:
        self._tracer = trace.get_tracer("backchannel.rpc", __version__)
        self._name = method.lstrip("/")
        service, _, name = self._name.partition("/")
        self._rpc = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        self._address = address
        #: The duration's attributes by status code, made once each.
        self._by_code: dict[grpc.StatusCode, dict[str, str | int]] = {}

    def start(self, context: ServicerContext) -> trace.Span:
        caller = _caller_trace(context)
        if caller is None and (unsampled := unsampled_root_span()) is not None:
            return unsampled
        span = self._tracer.start_span(
            self._name, context=caller, kind=SpanKind.SERVER, attributes=self._rpc
        )
        if span.is_recording():
            address = self._address
            if address.host:
                span.set_attribute("server.address", address.host)
                span.set_attribute("server.port", address.port)
            client, client_port = peer_address(context.peer() or "")
            span.set_attribute("client.address", client)
            if client_port is not None:
                span.set_attribute("client.port", client_port)
        return span

    def end(self, span: trace.Span, code: grpc.StatusCode, started: float) -> None:
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code in SERVER_ERRORS:
            span.set_attribute("error.type", code.name)
            span.set_status(Status(StatusCode.ERROR, code.name))
        span.end()
        attributes = self._by_code.get(code)
        if attributes is None:
            attributes = self._by_code[code] = {**self._rpc, "rpc.grpc.status_code": code.value[0]}
        record_rpc_duration(time.perf_counter() - started, attributes)


class RpcTracing(MethodInterceptor):
    """Serves each call inside its server span (see the module's docstring). Streams must
    reach it written with ``context.write``, as :class:`ErrorMapping` serves them."""

    def __init__(self, services: Iterable[str], address: ServerAddress | None = None) -> None:
        super().__init__(services)
        self._address = address or ServerAddress()

    def wrap(self, method: str, handler: MethodHandler) -> MethodHandler:
        span_of = _RpcSpan(method, self._address)
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
        started = time.perf_counter()
        span = span_of.start(context)
        code = grpc.StatusCode.OK
        try:
            # The status comes from the code answered, not from the exception that
            # carried it (an abort raises for INVALID_ARGUMENT too).
            with trace.use_span(
                span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                return await inner(request, context)
        except BaseException as error:
            code = _code_of(error, context)
            raise
        finally:
            span_of.end(span, code, started)

    return behaviour
