"""Server CPU per call of the interceptors every RPC passes through
(backchannel.api.interceptors), without the network.

Row 1* of run.py measures them over loopback, where client and server share two cores
and a few microseconds per call drown in the run-to-run spread. This runs, in one
process, what the server runs per call apart from the transport: grpc.aio's own handler
lookup (its Cython ``_find_method_handler``, which runs the interceptor chain), request
decoding and the method's behaviour, for the echo servicer of row 1 (the brief's example
request, a canned answer), bare, through the interceptors, and through them with
authentication checking a bearer token on every call (``interceptors+token``: the token
verified once, then from the verifier's cache, as every call of a busy caller is). The
differences are what they cost a call; set them against the server CPU per call run.py
prints for 1a.

    python bench/interceptor_cost.py [--calls 50000] [--runs 7]

On a commit from before the interceptors (``PYTHONPATH=<its export>/server``), the
handler wrapping it had is measured in their place. grpc's lookup is private API: this
script may need adjusting when grpcio changes it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from backchannel_client.v1 import feedback_service_pb2, feedback_service_pb2_grpc
from common import canned_response, median, send_request
from grpc._cython import cygrpc

from backchannel.telemetry import configure_tracing

SERVICE = feedback_service_pb2.DESCRIPTOR.services_by_name["FeedbackService"].full_name
METHOD = f"/{SERVICE}/SendFeedback"
TOKEN = "bck_" + "b" * 43
#: What a grpc-python client sends along (tracing looks through it for a traceparent), and
#: a bearer token (unread by the layouts without authentication).
METADATA = (("user-agent", "grpc-python-asyncio/1.85.3"), ("authorization", f"Bearer {TOKEN}"))


class Echo(feedback_service_pb2_grpc.FeedbackServiceServicer):
    def __init__(self) -> None:
        self._answer = canned_response()

    async def SendFeedback(self, request: Any, context: Any) -> Any:
        return self._answer


class Context:
    """The parts of grpc.aio's servicer context a successful call touches."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return METADATA

    def code(self) -> None:
        return None


class Registrar:
    """Takes the method handlers a generated ``add_*Servicer_to_server`` registers."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        del handlers  # the same handlers come again, registered by name

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.handlers.update({f"/{service}/{name}": h for name, h in handlers.items()})


def layouts() -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """Name -> (grpc's method resolver, interceptors) for the bare echo and the echo
    served as ``backchannel serve`` serves its methods."""
    add = feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server
    bare = Registrar()
    add(Echo(), bare)
    resolver = cygrpc._MethodResolver([], bare.handlers)
    try:
        from backchannel.api.interceptors import api_interceptors
    except ImportError:
        from backchannel.api.rpc_handlers import add_service

        wrapped = Registrar()
        add_service(add, Echo(), wrapped)  # type: ignore[arg-type]
        served = ("wrapping", cygrpc._MethodResolver([], wrapped.handlers), ())
    else:
        served = ("interceptors", resolver, tuple(api_interceptors([SERVICE])))
    found = {"bare": (resolver, ()), served[0]: (served[1], served[2])}
    authenticated = _authenticated_interceptors()
    if authenticated is not None:
        found["interceptors+token"] = (resolver, authenticated)
    return found


def _authenticated_interceptors() -> tuple[Any, ...] | None:
    """The interceptors with authentication, its verifier knowing TOKEN without a database
    (it reaches into the verifier: what is measured is the cached path every call of a
    busy caller takes); None on a commit from before authentication."""
    try:
        from backchannel.api.interceptors import api_interceptors
        from backchannel.api.interceptors.authentication import Authentication
        from backchannel.api.token_verifier import TokenVerifier, _verified
    except ImportError:
        return None
    from datetime import UTC, datetime

    from backchannel.model import Grant, TokenRecord

    class KnownToken(TokenVerifier):
        async def _fetch(self, digest: bytes) -> Any:
            record = TokenRecord(
                "tok_bench", "bench", Grant(), datetime.now(UTC), None, None, None, "bench"
            )
            self._valid[digest] = verified = _verified(record)
            return verified

    verifier = KnownToken(None, 3600.0)  # type: ignore[arg-type]  # no database needed
    return tuple(api_interceptors([SERVICE], Authentication([SERVICE], verifier, {})))


async def one_call(raw: bytes, resolver: Any, interceptors: tuple[Any, ...]) -> Any:
    handler = await cygrpc._find_method_handler(METHOD, METADATA, resolver, interceptors)
    decode = handler.request_deserializer
    return await handler.unary_unary(decode(raw) if decode else raw, Context())


async def measure(calls: int, runs: int) -> dict[str, list[float]]:
    raw = send_request("bench-1").SerializeToString()
    measured: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, (resolver, interceptors) in layouts().items():
            for _ in range(calls // 10):  # warm-up, and each method's handler built
                await one_call(raw, resolver, interceptors)
            start = time.process_time()
            for _ in range(calls):
                await one_call(raw, resolver, interceptors)
            seconds = time.process_time() - start
            measured.setdefault(name, []).append(seconds / calls * 1e6)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    configure_tracing("none", "")  # as backchannel serve with no exporter
    measured = asyncio.run(measure(args.calls, args.runs))
    bare = median(measured["bare"])
    for name, per_call in measured.items():
        extra = "" if name == "bare" else f"  (+{median(per_call) - bare:.2f} us over bare)"
        if name == "interceptors+token":
            token = median(per_call) - median(measured["interceptors"])
            extra += f", +{token:.2f} us for the token"
        runs = " / ".join(f"{v:.2f}" for v in per_call)
        print(f"{name:18} {median(per_call):6.2f} us/call median{extra}   runs: {runs}")


if __name__ == "__main__":
    main()
