"""Batch files, for :class:`Client`: list a recipient's batches, see one, run one now (or
preview it), retry one."""

from __future__ import annotations

from typing import Any

import grpc

from backchannel_client._generated.backchannel.v1 import (
    batch_pb2,
    batch_service_pb2,
    batch_service_pb2_grpc,
)


class BatchCalls:
    """Mixed into :class:`Client`, which provides ``_unary`` and ``_channel``."""

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        # Client._unary: errors raised as BackchannelError, the client's deadline.
        return getattr(self, "_unary")(method, request, timeout)  # noqa: B009

    @property
    def _batch_stub(self) -> batch_service_pb2_grpc.BatchServiceStub:
        channel: grpc.Channel = getattr(self, "_channel")  # noqa: B009
        return batch_service_pb2_grpc.BatchServiceStub(channel)

    def list_batches(
        self, recipient_id: str, *, page_size: int = 0, page_token: str = "",
        timeout: float | None = None,
    ) -> batch_service_pb2.ListBatchesResponse:  # fmt: skip
        """One page of a recipient's batches, newest first."""
        request = batch_service_pb2.ListBatchesRequest(
            recipient_id=recipient_id, page_size=page_size, page_token=page_token
        )
        answer: batch_service_pb2.ListBatchesResponse = self._call(
            self._batch_stub.ListBatches, request, timeout
        )
        return answer

    def get_batch(
        self, batch_id: str, *, item_limit: int = 0, timeout: float | None = None
    ) -> batch_service_pb2.GetBatchResponse:
        """A batch, its first items and its attempts."""
        request = batch_service_pb2.GetBatchRequest(batch_id=batch_id, item_limit=item_limit)
        answer: batch_service_pb2.GetBatchResponse = self._call(
            self._batch_stub.GetBatch, request, timeout
        )
        return answer

    def run_batch(
        self, recipient_id: str, *, requested_by: str = "", dry_run: bool = False,
        preview_rows: int = 0, timeout: float | None = None,
    ) -> batch_service_pb2.RunBatchResponse:  # fmt: skip
        """Runs a recipient's batch now, or with ``dry_run`` previews the next file."""
        request = batch_service_pb2.RunBatchRequest(
            recipient_id=recipient_id, requested_by=requested_by, dry_run=dry_run,
            preview_rows=preview_rows,
        )  # fmt: skip
        answer: batch_service_pb2.RunBatchResponse = self._call(
            self._batch_stub.RunBatch, request, timeout
        )
        return answer

    def retry_batch(
        self, batch_id: str, *, requested_by: str, timeout: float | None = None
    ) -> batch_pb2.Batch:
        """Makes a failed, dead or held batch due now (the same file)."""
        request = batch_service_pb2.RetryBatchRequest(batch_id=batch_id, requested_by=requested_by)
        answer: batch_service_pb2.RetryBatchResponse = self._call(
            self._batch_stub.RetryBatch, request, timeout
        )
        return answer.batch


class AsyncBatchCalls:
    """The same calls for :class:`AsyncClient`."""

    async def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        return await getattr(self, "_unary")(method, request, timeout)  # noqa: B009

    @property
    def _batch_stub(self) -> batch_service_pb2_grpc.BatchServiceStub:
        channel: grpc.aio.Channel = getattr(self, "_channel")  # noqa: B009
        return batch_service_pb2_grpc.BatchServiceStub(channel)

    async def list_batches(
        self, recipient_id: str, *, page_size: int = 0, page_token: str = "",
        timeout: float | None = None,
    ) -> batch_service_pb2.ListBatchesResponse:  # fmt: skip
        """One page of a recipient's batches, newest first."""
        request = batch_service_pb2.ListBatchesRequest(
            recipient_id=recipient_id, page_size=page_size, page_token=page_token
        )
        answer: batch_service_pb2.ListBatchesResponse = await self._call(
            self._batch_stub.ListBatches, request, timeout
        )
        return answer

    async def get_batch(
        self, batch_id: str, *, item_limit: int = 0, timeout: float | None = None
    ) -> batch_service_pb2.GetBatchResponse:
        """A batch, its first items and its attempts."""
        request = batch_service_pb2.GetBatchRequest(batch_id=batch_id, item_limit=item_limit)
        answer: batch_service_pb2.GetBatchResponse = await self._call(
            self._batch_stub.GetBatch, request, timeout
        )
        return answer

    async def run_batch(
        self, recipient_id: str, *, requested_by: str = "", dry_run: bool = False,
        preview_rows: int = 0, timeout: float | None = None,
    ) -> batch_service_pb2.RunBatchResponse:  # fmt: skip
        """Runs a recipient's batch now, or with ``dry_run`` previews the next file."""
        request = batch_service_pb2.RunBatchRequest(
            recipient_id=recipient_id, requested_by=requested_by, dry_run=dry_run,
            preview_rows=preview_rows,
        )  # fmt: skip
        answer: batch_service_pb2.RunBatchResponse = await self._call(
            self._batch_stub.RunBatch, request, timeout
        )
        return answer

    async def retry_batch(
        self, batch_id: str, *, requested_by: str, timeout: float | None = None
    ) -> batch_pb2.Batch:
        """Makes a failed, dead or held batch due now (the same file)."""
        request = batch_service_pb2.RetryBatchRequest(batch_id=batch_id, requested_by=requested_by)
        answer: batch_service_pb2.RetryBatchResponse = await self._call(
            self._batch_stub.RetryBatch, request, timeout
        )
        return answer.batch
