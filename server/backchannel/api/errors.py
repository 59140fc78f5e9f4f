"""Errors as google.rpc.Status (AIP-193): one ErrorInfo, and a BadRequest for bad input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "backchannel.dev"


class ApiError(Exception):
    """An error to answer the caller with."""

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        violations: Sequence[tuple[str, str]] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.violations = tuple(violations)
        self.metadata = dict(metadata or {})

    def to_status(self) -> grpc.Status:
        details = status_pb2.Status(code=self.code.value[0], message=self.message)
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata
        )
        details.details.add().Pack(info)
        if self.violations:
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                    for f, d in self.violations
                ]
            )
            details.details.add().Pack(bad_request)
        status: grpc.Status = rpc_status.to_status(details)
        return status


class Violations:
    """Collects every field violation of a request before answering."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, description: str) -> None:
        self.items.append((field, description))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise invalid_argument(self.items)


def invalid_argument(violations: Sequence[tuple[str, str]]) -> ApiError:
    count = len(violations)
    summary = "; ".join(f"{f}: {d}" for f, d in violations[:3])
    more = f" (and {count - 3} more)" if count > 3 else ""
    return ApiError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        f"request has {count} invalid field{'s' if count != 1 else ''}: {summary}{more}",
        violations,
    )


def not_found(what: str, name: str, reason: str) -> ApiError:
    return ApiError(
        grpc.StatusCode.NOT_FOUND, reason, f"{what} {name!r} does not exist", (), {what: name}
    )


# The numeric codes of google.rpc.Code match grpc.StatusCode; kept for readers.
assert grpc.StatusCode.INVALID_ARGUMENT.value[0] == code_pb2.INVALID_ARGUMENT
