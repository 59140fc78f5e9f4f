"""The server interceptors every Backchannel RPC passes through.

``grpc.aio.server(interceptors=api_interceptors(services))`` serves the generated
``add_*Servicer_to_server`` registrations of ``services`` through, from the outside in:

1. :class:`RpcTracing`: the call's server span, ended with the code the caller gets;
2. :class:`ErrorMapping`: request decoding (undecodable bytes are INVALID_ARGUMENT), the
   request guard every request of every RPC passes (``limits``; see
   :mod:`backchannel.api.request_guard`) and every failure answered as a
   google.rpc.Status;
3. the ``inner`` interceptors given, in order, then the servicer. Authentication and
   authorisation go here: a :class:`MethodInterceptor` that reads the call's metadata or
   peer certificate, raises ApiError(UNAUTHENTICATED or PERMISSION_DENIED) to refuse (its
   refusals are then answered and traced like any error), and serves the call inside
   :func:`backchannel.api.caller.calling_as`, so servicers see
   :func:`backchannel.api.caller.current_caller`.

Each interceptor builds its handler for a method once, on the method's first call (see
:class:`MethodInterceptor`); a call then pays for grpc.aio running the chain (a coroutine
per interceptor and a dictionary lookup) and for the wrappers' own work. Measured
(bench/interceptor_cost.py, and bench/run.py row 1*), that is a small share of an
accept's CPU, well under the 5% that would argue for wrapping handlers at registration
instead; the figures are in bench/README.md, "Figures behind design choices".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc

from backchannel.api.interceptors.error_mapping import ErrorMapping
from backchannel.api.interceptors.method_interceptor import MethodInterceptor
from backchannel.api.interceptors.rpc_tracing import RpcTracing, ServerAddress
from backchannel.api.request_guard import RequestGuard, RequestLimits

__all__ = ["ErrorMapping", "MethodInterceptor", "RpcTracing", "ServerAddress", "api_interceptors"]


def api_interceptors(
    services: Iterable[str],
    *inner: MethodInterceptor,
    limits: RequestLimits | None = None,
    address: ServerAddress | None = None,
) -> list[grpc.aio.ServerInterceptor[Any, Any]]:
    """The interceptors for a server serving ``services`` (full names), in the order
    ``grpc.aio.server`` takes them; ``inner`` go innermost, next to the servicers.
    ``address``: where the server listens, for its spans (filled in once bound)."""
    names = frozenset(services)
    return [RpcTracing(names, address), ErrorMapping(names, RequestGuard(limits)), *inner]
