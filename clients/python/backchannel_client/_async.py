"""The asyncio client: the same calls as Client, awaited."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, overload

import grpc

from backchannel_client import _requests
from backchannel_client._batches import AsyncBatchCalls
from backchannel_client._builders import FeedbackLike, RecipientLike, as_recipient
from backchannel_client._errors import BackchannelError, error_from_rpc
from backchannel_client._follow import StreamEvent, StreamPosition
from backchannel_client._generated.backchannel.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    delivery_service_pb2,
    delivery_service_pb2_grpc,
    event_pb2,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
    recipient_pb2,
    recipient_service_pb2,
    recipient_service_pb2_grpc,
    token_service_pb2,
    token_service_pb2_grpc,
)
from backchannel_client._options import (
    ChannelOptions,
    RetrySettings,
    Token,
    call_metadata,
    check_token_transport,
    is_retryable,
    secure_credentials,
    token_to_use,
)
from backchannel_client._reports import AsyncReportCalls
from backchannel_client._results import SendResult

log = logging.getLogger("backchannel_client")

Request = TypeVar("Request")
Response = TypeVar("Response")
EventT = TypeVar("EventT", event_pb2.FeedbackSentEvent, StreamEvent)


class AsyncClient(AsyncBatchCalls, AsyncReportCalls):
    """An asyncio Backchannel client: the options and calls of ``Client``, awaited. Create
    and use it inside a running event loop; ``async with`` it, or ``await close()``."""

    def __init__(
        self,
        target: str,
        *,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        channel_credentials: grpc.ChannelCredentials | None = None,
        token: Token | None = None,
        timeout: float | None = 10.0,
        retry: RetrySettings | None = None,
        channel_options: ChannelOptions = (),
        insecure: bool = False,
    ) -> None:
        self.target = target
        self._timeout = timeout
        self._retry = retry or RetrySettings()
        self._token = token_to_use(token)
        credentials = secure_credentials(
            tls, root_certificates, channel_credentials, certificate_chain, private_key
        )
        check_token_transport(target, self._token, credentials is not None, insecure)
        options = list(channel_options)
        self._channel = (
            grpc.aio.secure_channel(target, credentials, options)
            if credentials is not None
            else grpc.aio.insecure_channel(target, options)
        )
        self._feedback = feedback_service_pb2_grpc.FeedbackServiceStub(self._channel)
        self._recipients = recipient_service_pb2_grpc.RecipientServiceStub(self._channel)
        self._deliveries = delivery_service_pb2_grpc.DeliveryServiceStub(self._channel)
        self._tokens = token_service_pb2_grpc.TokenServiceStub(self._channel)
        self._audit = audit_service_pb2_grpc.AuditServiceStub(self._channel)
        self._streams: weakref.WeakSet[AsyncEventStream[Any]] = weakref.WeakSet()

    async def close(self) -> None:
        """Closes the channel; calls in progress fail and event streams end."""
        for stream in list(self._streams):
            await stream.aclose()
        await self._channel.close(None)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- feedback ------------------------------------------------------------------------

    async def send_feedback(
        self,
        feedback: FeedbackLike,
        recipient_ids: Iterable[str] = (),
        request_id: str | None = None,
        *,
        timeout: float | None = None,
    ) -> feedback_service_pb2.SendFeedbackResponse:
        """See ``Client.send_feedback``: retried with the same request id."""
        request = _requests.send_request(feedback, recipient_ids, request_id)
        return await self._unary(
            self._feedback.SendFeedback, request, timeout, retry=True, about=request.request_id
        )

    async def send_many(
        self,
        feedbacks: Iterable[_requests.SendItem],
        *,
        recipient_ids: Iterable[str] = (),
        concurrency: int = 8,
        on_result: Callable[[SendResult], None] | None = None,
        timeout: float | None = None,
    ) -> list[SendResult]:
        """See ``Client.send_many``: results in the order given, errors returned."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        requests = _requests.send_many_requests(feedbacks, recipient_ids)
        results: list[SendResult] = []
        pending = iter(range(len(requests)))

        async def worker() -> None:
            # `concurrency` workers share one queue of indexes (one task each, not per item).
            for index in pending:
                request = requests[index]
                try:
                    response = await self._unary(
                        self._feedback.SendFeedback,
                        request,
                        timeout,
                        retry=True,
                        about=request.request_id,
                    )
                    result = SendResult(index, request.request_id, response=response)
                except BackchannelError as error:
                    result = SendResult(index, request.request_id, error=error)
                results.append(result)
                if on_result is not None:
                    on_result(result)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(requests)))))
        return sorted(results, key=lambda result: result.index)

    async def get_feedback(
        self, feedback_id: str, *, timeout: float | None = None
    ) -> feedback_service_pb2.GetFeedbackResponse:
        request = feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
        return await self._unary(self._feedback.GetFeedback, request, timeout, retry=True)

    async def list_events(
        self, filter: str = "", *, page_size: int = 100, timeout: float | None = None
    ) -> AsyncIterator[event_pb2.FeedbackSentEvent]:
        """See ``Client.list_events``: an async iterator over every page."""
        page_token = ""
        while True:
            request = feedback_service_pb2.ListFeedbackEventsRequest(
                filter=filter, page_size=page_size, page_token=page_token
            )
            page = await self._unary(
                self._feedback.ListFeedbackEvents, request, timeout, retry=True
            )
            for event in page.events:
                yield event
            page_token = page.next_page_token
            if not page_token:
                return

    @overload
    def follow_events(
        self,
        filter: feedback_service_pb2.EventFilter | None = None,
        *,
        after_cursor: str | None = None,
        from_beginning: bool = False,
        include_operator_events: Literal[False] = False,
    ) -> AsyncEventStream[event_pb2.FeedbackSentEvent]: ...

    @overload
    def follow_events(
        self,
        filter: feedback_service_pb2.EventFilter | None = None,
        *,
        after_cursor: str | None = None,
        from_beginning: bool = False,
        include_operator_events: Literal[True],
    ) -> AsyncEventStream[StreamEvent]: ...

    @overload
    def follow_events(
        self,
        filter: feedback_service_pb2.EventFilter | None = None,
        *,
        after_cursor: str | None = None,
        from_beginning: bool = False,
        include_operator_events: bool,
    ) -> AsyncEventStream[StreamEvent]: ...

    def follow_events(
        self,
        filter: feedback_service_pb2.EventFilter | None = None,
        *,
        after_cursor: str | None = None,
        from_beginning: bool = False,
        include_operator_events: bool = False,
    ) -> AsyncEventStream[event_pb2.FeedbackSentEvent] | AsyncEventStream[StreamEvent]:
        """See ``Client.follow_events``: an async iterator that resumes after disconnects;
        ``aclose()`` it, leave its ``async with`` block, or cancel the task reading it."""
        position = StreamPosition(
            filter, after_cursor, from_beginning, include_operator_events, self._retry
        )
        stream: AsyncEventStream[Any] = AsyncEventStream(
            self._feedback.StreamFeedbackEvents, position, self._metadata
        )
        self._streams.add(stream)
        return stream

    # --- recipients ----------------------------------------------------------------------

    async def create_recipient(
        self, recipient: RecipientLike, *, timeout: float | None = None
    ) -> recipient_pb2.Recipient:
        request = recipient_service_pb2.CreateRecipientRequest(recipient=as_recipient(recipient))
        return (await self._unary(self._recipients.CreateRecipient, request, timeout)).recipient

    async def get_recipient(
        self, recipient_id: str, *, timeout: float | None = None
    ) -> recipient_pb2.Recipient:
        request = recipient_service_pb2.GetRecipientRequest(recipient_id=recipient_id)
        response = await self._unary(self._recipients.GetRecipient, request, timeout, retry=True)
        return response.recipient

    async def list_recipients(
        self, *, page_size: int = 100, timeout: float | None = None
    ) -> AsyncIterator[recipient_pb2.Recipient]:
        page_token = ""
        while True:
            request = recipient_service_pb2.ListRecipientsRequest(
                page_size=page_size, page_token=page_token
            )
            page = await self._unary(self._recipients.ListRecipients, request, timeout, retry=True)
            for recipient in page.recipients:
                yield recipient
            page_token = page.next_page_token
            if not page_token:
                return

    async def update_recipient(
        self,
        recipient: RecipientLike,
        update_mask: Sequence[str] = (),
        *,
        timeout: float | None = None,
    ) -> recipient_pb2.Recipient:
        request = _requests.update_request(recipient, update_mask)
        return (await self._unary(self._recipients.UpdateRecipient, request, timeout)).recipient

    async def delete_recipient(self, recipient_id: str, *, timeout: float | None = None) -> None:
        request = recipient_service_pb2.DeleteRecipientRequest(recipient_id=recipient_id)
        await self._unary(self._recipients.DeleteRecipient, request, timeout)

    async def test_recipient(
        self, target: str | RecipientLike, *, timeout: float | None = 90.0
    ) -> recipient_service_pb2.TestRecipientResponse:
        request = _requests.test_request(target)
        return await self._unary(self._recipients.TestRecipient, request, timeout)

    # --- operator actions on deliveries ---------------------------------------------------

    async def retry_delivery(
        self, delivery_id: str, *, requested_by: str = "", timeout: float | None = None
    ) -> feedback_service_pb2.Delivery:
        request = delivery_service_pb2.RetryDeliveryRequest(
            delivery_id=delivery_id, requested_by=requested_by
        )
        return (await self._unary(self._deliveries.RetryDelivery, request, timeout)).delivery

    async def resend_feedback(
        self,
        feedback_id: str,
        recipient_id: str,
        *,
        requested_by: str = "",
        timeout: float | None = None,
    ) -> feedback_service_pb2.Delivery:
        request = delivery_service_pb2.ResendFeedbackRequest(
            feedback_id=feedback_id, recipient_id=recipient_id, requested_by=requested_by
        )
        return (await self._unary(self._deliveries.ResendFeedback, request, timeout)).delivery

    async def recover_deliveries(
        self,
        recipient_id: str,
        *,
        start_time: datetime,
        end_time: datetime,
        requested_by: str = "",
        timeout: float | None = None,
    ) -> int:
        request = _requests.recover_request(recipient_id, start_time, end_time, requested_by)
        response = await self._unary(self._deliveries.RecoverDeliveries, request, timeout)
        return response.recovered_count

    # --- tokens and the audit trail -------------------------------------------------------

    async def create_token(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        source_ids: Iterable[str] = (),
        recipient_ids: Iterable[str] = (),
        expires: datetime | timedelta | None = None,
        timeout: float | None = None,
    ) -> token_service_pb2.CreateTokenResponse:
        request = _requests.create_token_request(name, scopes, source_ids, recipient_ids, expires)
        return await self._unary(self._tokens.CreateToken, request, timeout)

    async def list_tokens(
        self, *, show_revoked: bool = False, page_size: int = 100, timeout: float | None = None
    ) -> AsyncIterator[token_service_pb2.AccessToken]:
        page_token = ""
        while True:
            request = token_service_pb2.ListTokensRequest(
                page_size=page_size, page_token=page_token, show_revoked=show_revoked
            )
            page = await self._unary(self._tokens.ListTokens, request, timeout, retry=True)
            for token in page.tokens:
                yield token
            page_token = page.next_page_token
            if not page_token:
                return

    async def revoke_token(
        self, token_id: str, *, timeout: float | None = None
    ) -> token_service_pb2.AccessToken:
        request = token_service_pb2.RevokeTokenRequest(token_id=token_id)
        return (await self._unary(self._tokens.RevokeToken, request, timeout, retry=True)).token

    async def list_audit_records(
        self, filter: str = "", *, page_size: int = 100, timeout: float | None = None
    ) -> AsyncIterator[audit_service_pb2.AuditRecord]:
        page_token = ""
        while True:
            request = audit_service_pb2.ListAuditRecordsRequest(
                filter=filter, page_size=page_size, page_token=page_token
            )
            page = await self._unary(self._audit.ListAuditRecords, request, timeout, retry=True)
            for record in page.records:
                yield record
            page_token = page.next_page_token
            if not page_token:
                return

    # --- plumbing ------------------------------------------------------------------------

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self._token)

    async def _unary(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[Request, Response],
        request: Request,
        timeout: float | None,
        *,
        retry: bool = False,
        about: str = "",
    ) -> Response:
        settings = self._retry
        per_attempt = timeout if timeout is not None else self._timeout
        started = time.monotonic()
        backoffs = settings.backoffs()
        attempt = 1
        while True:
            deadline = per_attempt
            if retry:
                remaining = settings.total_timeout - (time.monotonic() - started)
                deadline = remaining if deadline is None else min(deadline, remaining)
            try:
                return await method(request, timeout=deadline, metadata=self._metadata())
            except grpc.aio.AioRpcError as error:
                code = error.code()
                pause = next(backoffs)
                spent = time.monotonic() - started
                if (
                    not retry
                    or not is_retryable(code)
                    or attempt >= settings.max_attempts
                    or spent + pause >= settings.total_timeout
                ):
                    raise error_from_rpc(error) from None
                log.info(
                    "attempt %d failed with %s; retrying in %.2f s%s",
                    attempt,
                    code.name,
                    pause,
                    f" with the same request id {about}" if about else "",
                )
                await asyncio.sleep(pause)
                attempt += 1


class AsyncEventStream(Generic[EventT]):
    """An async iterator over live events that resumes by itself after disconnects.
    ``cursor`` is the position reached. ``aclose()`` it, or leave its ``async with``
    block: iteration then ends."""

    def __init__(
        self,
        method: grpc.aio.UnaryStreamMultiCallable[
            feedback_service_pb2.StreamFeedbackEventsRequest,
            feedback_service_pb2.StreamFeedbackEventsResponse,
        ],
        position: StreamPosition,
        metadata: Callable[[], tuple[tuple[str, str], ...]],
    ) -> None:
        self._method = method
        self._position = position
        self._metadata = metadata
        self._call: (
            grpc.aio.UnaryStreamCall[
                feedback_service_pb2.StreamFeedbackEventsRequest,
                feedback_service_pb2.StreamFeedbackEventsResponse,
            ]
            | None
        ) = None
        self._closed = asyncio.Event()

    @property
    def cursor(self) -> str:
        """The last cursor received (from an event or a heartbeat); empty before any."""
        return self._position.cursor

    def __aiter__(self) -> AsyncEventStream[EventT]:
        return self

    async def __anext__(self) -> EventT:
        while True:
            if self._closed.is_set():
                raise StopAsyncIteration
            if self._call is None:
                self._call = self._method(self._position.request(), metadata=self._metadata())
            call = self._call
            try:
                item = await call.read()
            except grpc.aio.AioRpcError as error:
                self._call = None
                if self._closed.is_set():
                    raise StopAsyncIteration from None
                pause = self._position.pause_before_reconnect(
                    error.code(), error.details(), error.trailing_metadata()
                )
            except asyncio.CancelledError:
                self._call = None
                call.cancel()
                task = asyncio.current_task()
                if self._closed.is_set() and (task is None or task.cancelling() == 0):
                    # aclose() cancelled the call under this read: the stream just ends.
                    raise StopAsyncIteration from None
                raise
            else:
                if isinstance(item, feedback_service_pb2.StreamFeedbackEventsResponse):
                    event = self._position.accept(item)
                    if event is not None:
                        return event  # type: ignore[return-value]
                    continue
                self._call = None  # grpc.aio.EOF: the server ended the stream
                pause = self._position.ended_cleanly()
            try:
                await asyncio.wait_for(self._closed.wait(), pause)
            except TimeoutError:
                continue
            raise StopAsyncIteration

    async def aclose(self) -> None:
        """Ends the stream; a task awaiting the next event gets StopAsyncIteration."""
        self._closed.set()
        if self._call is not None:
            self._call.cancel()

    async def __aenter__(self) -> AsyncEventStream[EventT]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
