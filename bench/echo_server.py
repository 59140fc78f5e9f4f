"""The accept ceiling: a bare grpc.aio server answering backchannel.v1.FeedbackService/
SendFeedback with a canned response, nothing else (no database, no interceptors).

Run as its own process by run.py: ``python bench/echo_server.py --port N``; with
``--interceptors`` it is served through the real server's interceptors (server span,
decoding, error mapping: a diagnostic rung). It prints ``PORT <n>`` once listening and
stops by itself after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import grpc
from backchannel_client.v1 import feedback_service_pb2, feedback_service_pb2_grpc
from common import canned_response, until_stopped


class EchoFeedbackService(feedback_service_pb2_grpc.FeedbackServiceServicer):
    def __init__(self) -> None:
        self._answer = canned_response()

    async def SendFeedback(
        self,
        request: feedback_service_pb2.SendFeedbackRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> feedback_service_pb2.SendFeedbackResponse:
        return self._answer


_OPTIONS = [("grpc.so_reuseport", 0)]


def echo_server(intercepted: bool) -> grpc.aio.Server:
    """The echo service on a server of its own, bare or (``intercepted``) served through
    the interceptors ``backchannel serve`` installs, with the server's tracer provider and
    no exporter, so their cost can be told apart from the rest of SendFeedback."""
    add = feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server
    if not intercepted:
        server = grpc.aio.server(options=_OPTIONS)
        add(EchoFeedbackService(), server)
        return server
    from backchannel.telemetry import configure_tracing

    configure_tracing("none", "")
    try:
        from backchannel.api.interceptors import api_interceptors
    except ImportError:
        # A commit from before the interceptors (bench/run.py --ref): the handler wrapping
        # it had in their place, so row 1* compares across the change.
        from backchannel.api.rpc_handlers import add_service

        server = grpc.aio.server(options=_OPTIONS)
        add_service(add, EchoFeedbackService(), server)
        return server
    service = feedback_service_pb2.DESCRIPTOR.services_by_name["FeedbackService"].full_name
    server = grpc.aio.server(interceptors=api_interceptors([service]), options=_OPTIONS)
    add(EchoFeedbackService(), server)
    return server


async def serve(port: int, max_seconds: float, intercepted: bool) -> None:
    server = echo_server(intercepted)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"PORT {bound}", flush=True)
    await until_stopped(max_seconds)
    await server.stop(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument(
        "--interceptors",
        action="store_true",
        help="serve through the real server's interceptors (span, decoding, errors)",
    )
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.max_seconds, args.interceptors))


if __name__ == "__main__":
    main()
