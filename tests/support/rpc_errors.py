"""Reads the google.rpc.Status a failed call carries in its trailing metadata (AIP-193)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class RichError:
    code: grpc.StatusCode
    status: status_pb2.Status
    error_info: error_details_pb2.ErrorInfo
    bad_request: error_details_pb2.BadRequest | None

    @property
    def violated_fields(self) -> list[str]:
        assert self.bad_request is not None, "the status carries no BadRequest"
        return [v.field for v in self.bad_request.field_violations]

    def serialized(self) -> bytes:
        return self.status.SerializeToString()


def rich_error(error: grpc.aio.AioRpcError) -> RichError:
    """The status of ``error``, which must hold exactly one ErrorInfo and at most one
    BadRequest and nothing else."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"{error.code()} without a google.rpc.Status: {error.details()}"
    assert status.code == error.code().value[0]
    assert status.message == error.details()
    infos: list[error_details_pb2.ErrorInfo] = []
    bad_requests: list[error_details_pb2.BadRequest] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            bad_requests.append(bad_request)
        else:
            raise AssertionError(f"unexpected detail {detail.type_url}")
    assert len(infos) == 1, f"{len(infos)} ErrorInfo details"
    assert len(bad_requests) <= 1, f"{len(bad_requests)} BadRequest details"
    return RichError(error.code(), status, infos[0], bad_requests[0] if bad_requests else None)
