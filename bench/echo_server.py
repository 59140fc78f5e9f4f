"""The accept ceiling: a bare grpc.aio server answering backchannel.v1.FeedbackService/
SendFeedback with a canned response, nothing else (no database, no wrapping).

Run as its own process by run.py: ``python bench/echo_server.py --port N``; with
``--wrapped`` its method handlers are wrapped as the real server's are (decoding, server
span, error mapping: a diagnostic rung). It prints ``PORT <n>`` once listening and stops
by itself after ``--max-seconds``.
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


def add_echo_service(server: grpc.aio.Server, wrapped: bool) -> None:
    """Registers the echo service bare, or (``wrapped``) as ``backchannel serve`` registers
    its services, with the server's tracer provider and no exporter, so the cost of that
    wrapping can be told apart from the rest of SendFeedback."""
    add = feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server
    if not wrapped:
        add(EchoFeedbackService(), server)
        return
    from backchannel.api.rpc_handlers import add_service
    from backchannel.telemetry import configure_tracing

    configure_tracing("none", "")
    add_service(add, EchoFeedbackService(), server)


async def serve(port: int, max_seconds: float, wrapped: bool) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    add_echo_service(server, wrapped)
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
        "--wrapped",
        action="store_true",
        help="wrap the method handlers as the real server does (decoding, span, errors)",
    )
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.max_seconds, args.wrapped))


if __name__ == "__main__":
    main()
