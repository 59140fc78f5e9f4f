"""The accept ceiling: a bare grpc.aio server answering backchannel.v1.FeedbackService/
SendFeedback with a canned response, nothing else (no database, no interceptors).

Run as its own process by run.py: ``python bench/echo_server.py --port N``; with
``--interceptors`` it is served through the real server's interceptors (server span, decoding,
error mapping: a diagnostic rung). It prints ``PORT <n>`` once listening and stops by
itself after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import grpc
from common import canned_response, until_stopped

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


def echo_interceptors(intercepted: bool) -> list[Any] | None:
    """None (bare), or (``intercepted``) the interceptors ``backchannel serve`` installs,
    with the server's tracer provider and no exporter, so their cost can be told apart
    from the rest of SendFeedback."""
    if not intercepted:
        return None
    from backchannel.api.interceptors import api_interceptors
    from backchannel.telemetry import configure_tracing

    configure_tracing("none", "")
    service = feedback_service_pb2.DESCRIPTOR.services_by_name["FeedbackService"].full_name
    return api_interceptors([service])


async def serve(port: int, max_seconds: float, intercepted: bool) -> None:
    server = grpc.aio.server(
        interceptors=echo_interceptors(intercepted), options=[("grpc.so_reuseport", 0)]
    )
    feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server(EchoFeedbackService(), server)
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
