"""Errors the server answers with, as exceptions: a google.rpc.Status (AIP-193) carried in
the trailing metadata, with one ErrorInfo and, for bad input, a BadRequest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import grpc
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo
from google.rpc.status_pb2 import Status

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class FieldViolation(NamedTuple):
    """One bad field of a request: its path (e.g. ``feedback.lead.lead_id``) and what is
    wrong with it."""

    field: str
    description: str


class BackchannelError(Exception):
    """A call the server (or the connection to it) refused.

    ``code`` is the gRPC status code, ``reason`` the ErrorInfo reason (e.g.
    ``RECIPIENT_NOT_FOUND``; empty when the server sent none, as for a connection that
    failed), ``message`` the status message, ``metadata`` the ErrorInfo metadata and
    ``field_violations`` every field violation of a BadRequest (empty when there is none).
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        domain: str = "",
        metadata: Mapping[str, str] | None = None,
        field_violations: Iterable[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations: list[FieldViolation] = list(field_violations)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code.name}, reason={self.reason!r}, "
            f"message={self.message!r})"
        )


class InvalidArgumentError(BackchannelError):
    """The request is malformed; ``field_violations`` lists every bad field."""


class NotFoundError(BackchannelError):
    """A named feedback, recipient or delivery does not exist."""


class AlreadyExistsError(BackchannelError):
    """The recipient exists already, or a request id was reused for a different request."""


class FailedPreconditionError(BackchannelError):
    """The request is valid but the system's state refuses it (e.g. a disabled recipient)."""


class AbortedError(BackchannelError):
    """A concurrent change won (e.g. an etag that no longer matches); read again and retry."""


class OutOfRangeError(BackchannelError):
    """A stream cursor older than the retained events."""


class ResourceExhaustedError(BackchannelError):
    """A limit was reached (e.g. a stream subscriber that fell too far behind)."""


class UnauthenticatedError(BackchannelError):
    """The call carried no valid credentials."""


class PermissionDeniedError(BackchannelError):
    """The caller may not do this."""


class UnavailableError(BackchannelError):
    """The server could not be reached, or could not serve the call right now; nothing was
    done. Retrying with the same request id is safe."""


class DeadlineExceededError(BackchannelError):
    """No answer came in time; the call may or may not have taken effect. Retrying with the
    same request id is safe."""


_BY_CODE: dict[grpc.StatusCode, type[BackchannelError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: AbortedError,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRangeError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def error_from_status(
    code: grpc.StatusCode,
    details: str | None,
    trailing_metadata: Iterable[Any] | None,
) -> BackchannelError:
    """The exception for a call that ended with ``code``, read from its rich status when
    the server sent one."""
    cls = _BY_CODE.get(code, BackchannelError)
    status = _rich_status(trailing_metadata or ())
    if status is None:
        return cls(code, details or code.name.lower().replace("_", " "))
    reason, domain, metadata = "", "", {}
    violations: list[FieldViolation] = []
    for detail in status.details:
        info, bad_request = ErrorInfo(), BadRequest()
        if detail.Unpack(info):  # Unpack is false for a detail of another type
            if not reason:
                reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Unpack(bad_request):
            violations.extend(
                FieldViolation(v.field, v.description) for v in bad_request.field_violations
            )
    return cls(
        code,
        status.message or details or "",
        reason=reason,
        domain=domain,
        metadata=metadata,
        field_violations=violations,
    )


def error_from_rpc(error: grpc.RpcError) -> BackchannelError:
    """The exception for a failed call of the synchronous or the asyncio API."""
    if isinstance(error, grpc.aio.AioRpcError):
        return error_from_status(error.code(), error.details(), error.trailing_metadata())
    if isinstance(error, grpc.Call):
        return error_from_status(error.code(), error.details(), error.trailing_metadata())
    return BackchannelError(grpc.StatusCode.UNKNOWN, str(error))


def _rich_status(trailing_metadata: Iterable[Any]) -> Status | None:
    # Items are (key, value) pairs: tuples (asyncio) or named tuples (synchronous API).
    for key, value in trailing_metadata:
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = Status()
            try:
                status.ParseFromString(value)
            except Exception:  # a garbled detail must not hide the error itself
                return None
            return status
    return None
