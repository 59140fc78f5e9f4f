"""The fan-out ceiling: a bare grpc.aio server whose StreamFeedbackEvents writes one
canned event message, already serialized, as fast as each client reads, with nothing
else (no database, no hub, no filter, no interceptors).

Run as its own process by bench/fanout.py: ``python bench/stream_ceiling_server.py``;
prints ``PORT <n>`` once listening and stops by itself after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from backchannel_client.v1 import event_pb2, feedback_service_pb2
from common import until_stopped

METHOD = "/backchannel.v1.FeedbackService/StreamFeedbackEvents"


def canned_event() -> bytes:
    event = event_pb2.FeedbackSentEvent(
        cursor="1234567-89",
        event_id="evt_01h0000000000000000000000",
        feedback_id="fb_01h0000000000000000000000",
        delivery_id="dlv_01h000000000000000000000",
        attempt=1,
        recipient_id="bench-sink",
        transport="webhook",
        processing_status=event_pb2.PROCESSING_STATUS_SUCCEEDED,
        lead_id="LC123456789",
        source_id="SOURCE_3",
        trace_id="0" * 32,
        span_id="0" * 16,
    )
    event.response_status.code = 204
    event.start_time.GetCurrentTime()
    event.end_time.GetCurrentTime()
    return feedback_service_pb2.StreamFeedbackEventsResponse(event=event).SerializeToString()


async def serve(port: int, max_seconds: float) -> None:
    message = canned_event()

    async def stream(_request: bytes, _context: Any) -> AsyncIterator[bytes]:
        while True:
            yield message

    handler = grpc.unary_stream_rpc_method_handler(
        stream, request_deserializer=None, response_serializer=None
    )
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "backchannel.v1.FeedbackService", {"StreamFeedbackEvents": handler}
            ),
        )
    )
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"PORT {bound}", flush=True)
    try:
        await until_stopped(max_seconds)
    finally:
        await server.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.max_seconds))


if __name__ == "__main__":
    main()
