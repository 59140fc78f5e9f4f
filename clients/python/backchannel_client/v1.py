"""Every message, enum and stub of the Backchannel API (``backchannel.v1``), generated
from the protos by ``clients/python/generate``, e.g.
``from backchannel_client.v1 import feedback_pb2``."""

from backchannel_client._generated.backchannel.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    batch_pb2,
    batch_service_pb2,
    batch_service_pb2_grpc,
    delivery_service_pb2,
    delivery_service_pb2_grpc,
    event_pb2,
    feedback_pb2,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
    recipient_pb2,
    recipient_service_pb2,
    recipient_service_pb2_grpc,
    report_pb2,
    report_service_pb2,
    report_service_pb2_grpc,
    token_service_pb2,
    token_service_pb2_grpc,
)

__all__ = [
    "audit_service_pb2",
    "audit_service_pb2_grpc",
    "batch_pb2",
    "batch_service_pb2",
    "batch_service_pb2_grpc",
    "delivery_service_pb2",
    "delivery_service_pb2_grpc",
    "event_pb2",
    "feedback_pb2",
    "feedback_service_pb2",
    "feedback_service_pb2_grpc",
    "recipient_pb2",
    "recipient_service_pb2",
    "recipient_service_pb2_grpc",
    "report_pb2",
    "report_service_pb2",
    "report_service_pb2_grpc",
    "token_service_pb2",
    "token_service_pb2_grpc",
]
