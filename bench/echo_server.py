"""The accept ceiling: a bare grpc.aio server answering backchannel.v1.FeedbackService/
SendFeedback with a canned response, nothing else (no database, no interceptors).

Run as its own process by run.py: ``python bench/echo_server.py --port N``; with
``--interceptors both`` it also installs the real server's interceptors (a diagnostic
rung). It prints ``PORT <n>`` once listening and stops by itself after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

import grpc
from common import canned_response

from backchannel.v1 import feedback_service_pb2, feedback_service_pb2_grpc


class EchoFeedbackService(feedback_service_pb2_grpc.FeedbackServiceServicer):
    def __init__(self) -> None:
        self._answer = canned_response()

    async def SendFeedback(
        self,
        request: feedback_service_pb2.SendFeedbackRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> feedback_service_pb2.SendFeedbackResponse:
        return self._answer


def backchannel_interceptors(which: str) -> list[Any]:
    """The interceptors ``backchannel serve`` installs (``both``), or one of them (``otel``:
    OpenTelemetry with the server's tracer provider, no exporter; ``errors``: the error
    mapping), so their cost can be told apart from the rest of SendFeedback."""
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    from backchannel.api.interceptors import ErrorMappingInterceptor
    from backchannel.telemetry import configure_tracing

    configure_tracing("none", "")
    chosen: list[Any] = []
    if which in ("otel", "both"):
        chosen.append(aio_server_interceptor())
    if which in ("errors", "both"):
        chosen.append(ErrorMappingInterceptor())
    return chosen


async def serve(port: int, max_seconds: float, interceptors: str) -> None:
    server = grpc.aio.server(
        interceptors=backchannel_interceptors(interceptors) if interceptors != "none" else None,
        options=[("grpc.so_reuseport", 0)],
    )
    feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server(EchoFeedbackService(), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"PORT {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max_seconds)
    await server.stop(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument(
        "--interceptors",
        choices=("none", "otel", "errors", "both"),
        default="none",
        help="install the real server's interceptors: OpenTelemetry, error mapping, or both",
    )
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.max_seconds, args.interceptors))


if __name__ == "__main__":
    main()
