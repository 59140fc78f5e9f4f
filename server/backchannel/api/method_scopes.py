"""The one table of what each RPC needs: the scope a caller must hold to call it.

Every method of every service the server registers has an entry, or its service is open
(health, reflection); a test fails for any method without one, and the authentication
interceptor refuses a call to a method without one. A new RPC is one line here.
"""

from __future__ import annotations

from types import ModuleType

from backchannel_client.v1 import (
    audit_service_pb2,
    batch_service_pb2,
    delivery_service_pb2,
    feedback_service_pb2,
    recipient_service_pb2,
    report_service_pb2,
    token_service_pb2,
)

from backchannel.model import Scope


def _method(module: ModuleType, service: str, method: str) -> str:
    """``/package.Service/Method``, checked against the generated descriptors."""
    descriptor = module.DESCRIPTOR.services_by_name[service]
    return f"/{descriptor.full_name}/{descriptor.methods_by_name[method].name}"


_F = (feedback_service_pb2, "FeedbackService")
_R = (recipient_service_pb2, "RecipientService")
_D = (delivery_service_pb2, "DeliveryService")
_T = (token_service_pb2, "TokenService")
_A = (audit_service_pb2, "AuditService")
_B = (batch_service_pb2, "BatchService")
_P = (report_service_pb2, "ReportService")

METHOD_SCOPES: dict[str, Scope] = {
    _method(*_F, "SendFeedback"): Scope.FEEDBACK_SEND,
    _method(*_F, "GetFeedback"): Scope.FEEDBACK_READ,
    _method(*_F, "ListFeedbackEvents"): Scope.FEEDBACK_READ,
    _method(*_F, "StreamFeedbackEvents"): Scope.FEEDBACK_READ,
    _method(*_R, "CreateRecipient"): Scope.RECIPIENTS_WRITE,
    _method(*_R, "GetRecipient"): Scope.RECIPIENTS_READ,
    _method(*_R, "ListRecipients"): Scope.RECIPIENTS_READ,
    _method(*_R, "UpdateRecipient"): Scope.RECIPIENTS_WRITE,
    _method(*_R, "DeleteRecipient"): Scope.RECIPIENTS_WRITE,
    # It connects out and sends a test message with the stored secrets.
    _method(*_R, "TestRecipient"): Scope.RECIPIENTS_WRITE,
    _method(*_D, "RetryDelivery"): Scope.DELIVERIES_OPERATE,
    _method(*_D, "ResendFeedback"): Scope.DELIVERIES_OPERATE,
    _method(*_D, "RecoverDeliveries"): Scope.DELIVERIES_OPERATE,
    _method(*_T, "CreateToken"): Scope.TOKENS_ADMIN,
    _method(*_T, "ListTokens"): Scope.TOKENS_ADMIN,
    _method(*_T, "RevokeToken"): Scope.TOKENS_ADMIN,
    _method(*_A, "ListAuditRecords"): Scope.AUDIT_READ,
    # A batch lists feedback items (ids and lead ids) and their outcomes.
    _method(*_B, "ListBatches"): Scope.FEEDBACK_READ,
    _method(*_B, "GetBatch"): Scope.FEEDBACK_READ,
    # Sending a file now, or again: an operator's action on deliveries.
    _method(*_B, "RunBatch"): Scope.DELIVERIES_OPERATE,
    _method(*_B, "RetryBatch"): Scope.DELIVERIES_OPERATE,
    # A report is configuration of what a recipient gets, like the recipient itself;
    # running one sends the recipient figures it would get on schedule anyway.
    _method(*_P, "CreateReport"): Scope.RECIPIENTS_WRITE,
    _method(*_P, "GetReport"): Scope.RECIPIENTS_READ,
    _method(*_P, "ListReports"): Scope.RECIPIENTS_READ,
    _method(*_P, "UpdateReport"): Scope.RECIPIENTS_WRITE,
    _method(*_P, "DeleteReport"): Scope.RECIPIENTS_WRITE,
    _method(*_P, "RunReport"): Scope.RECIPIENTS_WRITE,
}

#: Services any caller may use without credentials: health, and reflection when it is
#: served (it describes the API, nothing stored).
OPEN_SERVICES = frozenset(
    (
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    )
)
