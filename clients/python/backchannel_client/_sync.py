"""The synchronous client."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, overload

import grpc

from backchannel_client import _requests
from backchannel_client._batches import BatchCalls
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
from backchannel_client._reports import ReportCalls
from backchannel_client._results import SendResult

log = logging.getLogger("backchannel_client")

Request = TypeVar("Request")
Response = TypeVar("Response")
EventT = TypeVar("EventT", event_pb2.FeedbackSentEvent, StreamEvent)


class Client(BatchCalls, ReportCalls):
    """A synchronous Backchannel client; thread-safe, one channel per client.

    ``target`` is ``"host:port"``. Plaintext unless ``tls`` is true, ``root_certificates``
    (PEM: the CAs to trust instead of the system's) are given, a client certificate is,
    or ready ``channel_credentials`` are. ``certificate_chain`` and ``private_key`` (PEM)
    are the client certificate presented to a server that requires one (mTLS). ``token``
    (or a function returning one; by default ``$BACKCHANNEL_TOKEN``) is sent as
    ``authorization: Bearer ...`` with every call, and never in plaintext to a target off
    this machine unless ``insecure`` is true (ValueError otherwise). ``timeout``
    is the default deadline of one attempt of a unary call, in seconds (None: none).
    ``retry`` says how calls that are safe to repeat are retried and how event streams
    reconnect. ``channel_options`` are passed to gRPC as channel arguments.

    Use it as a context manager, or call ``close()``.
    """

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
            grpc.secure_channel(target, credentials, options)
            if credentials is not None
            else grpc.insecure_channel(target, options)
        )
        self._feedback = feedback_service_pb2_grpc.FeedbackServiceStub(self._channel)
        self._recipients = recipient_service_pb2_grpc.RecipientServiceStub(self._channel)
        self._deliveries = delivery_service_pb2_grpc.DeliveryServiceStub(self._channel)
        self._tokens = token_service_pb2_grpc.TokenServiceStub(self._channel)
        self._audit = audit_service_pb2_grpc.AuditServiceStub(self._channel)
        self._streams: weakref.WeakSet[EventStream[Any]] = weakref.WeakSet()

    def close(self) -> None:
        """Closes the channel; calls in progress fail and event streams end."""
        for stream in list(self._streams):
            stream.close()
        self._channel.close()

    def wait_until_ready(self, timeout: float) -> None:
        """Waits up to ``timeout`` seconds for the connection to the server to be up (no
        call is made), and raises ``BackchannelError`` ``UNAVAILABLE`` if it is not: to
        fail fast before a long run of calls rather than retrying each of them."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise BackchannelError(
                grpc.StatusCode.UNAVAILABLE,
                f"no connection to {self.target} within {timeout:g}s",
            ) from None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- feedback ------------------------------------------------------------------------

    def send_feedback(
        self,
        feedback: FeedbackLike,
        recipient_ids: Iterable[str] = (),
        request_id: str | None = None,
        *,
        timeout: float | None = None,
    ) -> feedback_service_pb2.SendFeedbackResponse:
        """Sends one feedback (a message, or a dict of its proto JSON form) to the named
        recipients, or to every subscribed one when none are named. The request id (a new
        UUID when not given) makes the call idempotent, so on ``UNAVAILABLE`` or
        ``DEADLINE_EXCEEDED`` it is retried with the same id: the feedback is stored once.
        """
        request = _requests.send_request(feedback, recipient_ids, request_id)
        return self._unary(
            self._feedback.SendFeedback, request, timeout, retry=True, about=request.request_id
        )

    def send_many(
        self,
        feedbacks: Iterable[_requests.SendItem],
        *,
        recipient_ids: Iterable[str] = (),
        concurrency: int = 8,
        on_result: Callable[[SendResult], None] | None = None,
        timeout: float | None = None,
    ) -> list[SendResult]:
        """Sends many feedbacks, ``concurrency`` at a time, each with its own request id
        (a ``SendFeedbackRequest`` item keeps its own id and recipients). Returns one
        ``SendResult`` per item, in the order given; an item that fails carries its error
        instead of raising. ``on_result`` is called (from a worker thread) as each one
        finishes, e.g. to show progress."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        requests = _requests.send_many_requests(feedbacks, recipient_ids)

        def send(index: int) -> SendResult:
            request = requests[index]
            try:
                response = self._unary(
                    self._feedback.SendFeedback,
                    request,
                    timeout,
                    retry=True,
                    about=request.request_id,
                )
                result = SendResult(index, request.request_id, response=response)
            except BackchannelError as error:
                result = SendResult(index, request.request_id, error=error)
            if on_result is not None:
                on_result(result)
            return result

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(send, range(len(requests))))

    def get_feedback(
        self, feedback_id: str, *, timeout: float | None = None
    ) -> feedback_service_pb2.GetFeedbackResponse:
        """A feedback with each of its deliveries and every attempt."""
        request = feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
        return self._unary(self._feedback.GetFeedback, request, timeout, retry=True)

    def list_events(
        self, filter: str = "", *, page_size: int = 100, timeout: float | None = None
    ) -> Iterator[event_pb2.FeedbackSentEvent]:
        """Every feedback-sent event matching the AIP-160 ``filter`` (e.g.
        ``recipient_id = "acme" AND processing_status = SUCCEEDED``), oldest first,
        fetching ``page_size`` at a time as the iteration goes."""
        page_token = ""
        while True:
            request = feedback_service_pb2.ListFeedbackEventsRequest(
                filter=filter, page_size=page_size, page_token=page_token
            )
            page = self._unary(self._feedback.ListFeedbackEvents, request, timeout, retry=True)
            yield from page.events
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
    ) -> EventStream[event_pb2.FeedbackSentEvent]: ...

    @overload
    def follow_events(
        self,
        filter: feedback_service_pb2.EventFilter | None = None,
        *,
        after_cursor: str | None = None,
        from_beginning: bool = False,
        include_operator_events: Literal[True],
    ) -> EventStream[StreamEvent]: ...

    @overload
    def follow_events(
        self,
        filter: feedback_service_pb2.EventFilter | None = None,
        *,
        after_cursor: str | None = None,
        from_beginning: bool = False,
        include_operator_events: bool,
    ) -> EventStream[StreamEvent]: ...

    def follow_events(
        self,
        filter: feedback_service_pb2.EventFilter | None = None,
        *,
        after_cursor: str | None = None,
        from_beginning: bool = False,
        include_operator_events: bool = False,
    ) -> EventStream[event_pb2.FeedbackSentEvent] | EventStream[StreamEvent]:
        """Follows events live: those after ``after_cursor`` (or every retained one with
        ``from_beginning``, or from now), then new ones as they are recorded. An iterator
        of FeedbackSentEvent (and OperatorEvent with ``include_operator_events``) that
        reconnects on its own when the stream breaks (server restart, lost connection,
        ``RESOURCE_EXHAUSTED``) and resumes after its last cursor, so each event comes
        exactly once. It ends when closed (``close()``, or leaving its ``with`` block) and
        raises a BackchannelError when the stream cannot be resumed (``OUT_OF_RANGE``: the
        cursor is older than the retained events) or reconnecting has failed for longer
        than ``RetrySettings.stream_reconnect_timeout``."""
        position = StreamPosition(
            filter, after_cursor, from_beginning, include_operator_events, self._retry
        )
        stream: EventStream[Any] = EventStream(
            self._feedback.StreamFeedbackEvents, position, self._metadata
        )
        self._streams.add(stream)
        return stream

    # --- recipients ----------------------------------------------------------------------

    def create_recipient(
        self, recipient: RecipientLike, *, timeout: float | None = None
    ) -> recipient_pb2.Recipient:
        """Creates a recipient (a message, or a dict of its proto JSON form); returns it as
        stored, without secret values. Not retried (a repeat would be ALREADY_EXISTS)."""
        request = recipient_service_pb2.CreateRecipientRequest(recipient=as_recipient(recipient))
        return self._unary(self._recipients.CreateRecipient, request, timeout).recipient

    def get_recipient(
        self, recipient_id: str, *, timeout: float | None = None
    ) -> recipient_pb2.Recipient:
        request = recipient_service_pb2.GetRecipientRequest(recipient_id=recipient_id)
        return self._unary(self._recipients.GetRecipient, request, timeout, retry=True).recipient

    def list_recipients(
        self, *, page_size: int = 100, timeout: float | None = None
    ) -> Iterator[recipient_pb2.Recipient]:
        """Every recipient, by id, fetching ``page_size`` at a time."""
        page_token = ""
        while True:
            request = recipient_service_pb2.ListRecipientsRequest(
                page_size=page_size, page_token=page_token
            )
            page = self._unary(self._recipients.ListRecipients, request, timeout, retry=True)
            yield from page.recipients
            page_token = page.next_page_token
            if not page_token:
                return

    def update_recipient(
        self,
        recipient: RecipientLike,
        update_mask: Sequence[str] = (),
        *,
        timeout: float | None = None,
    ) -> recipient_pb2.Recipient:
        """Changes the fields of ``update_mask`` (every field given when empty). Secret
        settings merge: names given are set, a null value removes one. Pass the etag read
        to refuse lost updates (``AbortedError``)."""
        request = _requests.update_request(recipient, update_mask)
        return self._unary(self._recipients.UpdateRecipient, request, timeout).recipient

    def delete_recipient(self, recipient_id: str, *, timeout: float | None = None) -> None:
        request = recipient_service_pb2.DeleteRecipientRequest(recipient_id=recipient_id)
        self._unary(self._recipients.DeleteRecipient, request, timeout)

    def test_recipient(
        self, target: str | RecipientLike, *, timeout: float | None = 90.0
    ) -> recipient_service_pb2.TestRecipientResponse:
        """Probes a stored recipient (by id) or an unsaved one for real: connect, log in,
        send a test message. The answer lists each step; it does not raise when a step
        fails. The server gives a probe up to 60 s, hence the longer default deadline."""
        request = _requests.test_request(target)
        return self._unary(self._recipients.TestRecipient, request, timeout)

    # --- operator actions on deliveries ---------------------------------------------------

    def retry_delivery(
        self, delivery_id: str, *, requested_by: str = "", timeout: float | None = None
    ) -> feedback_service_pb2.Delivery:
        """Makes a delivery due now, whatever its state."""
        request = delivery_service_pb2.RetryDeliveryRequest(
            delivery_id=delivery_id, requested_by=requested_by
        )
        return self._unary(self._deliveries.RetryDelivery, request, timeout).delivery

    def resend_feedback(
        self,
        feedback_id: str,
        recipient_id: str,
        *,
        requested_by: str = "",
        timeout: float | None = None,
    ) -> feedback_service_pb2.Delivery:
        """Sends a feedback to a recipient again, even if it was delivered."""
        request = delivery_service_pb2.ResendFeedbackRequest(
            feedback_id=feedback_id, recipient_id=recipient_id, requested_by=requested_by
        )
        return self._unary(self._deliveries.ResendFeedback, request, timeout).delivery

    def recover_deliveries(
        self,
        recipient_id: str,
        *,
        start_time: datetime,
        end_time: datetime,
        requested_by: str = "",
        timeout: float | None = None,
    ) -> int:
        """Makes every failed or dead delivery of a recipient created in [start_time,
        end_time) due now; returns how many."""
        request = _requests.recover_request(recipient_id, start_time, end_time, requested_by)
        return self._unary(self._deliveries.RecoverDeliveries, request, timeout).recovered_count

    # --- tokens and the audit trail -------------------------------------------------------

    def create_token(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        source_ids: Iterable[str] = (),
        recipient_ids: Iterable[str] = (),
        expires: datetime | timedelta | None = None,
        timeout: float | None = None,
    ) -> token_service_pb2.CreateTokenResponse:
        """Creates a bearer token (``scopes`` such as ``"feedback:send"``, narrowed to
        sources and recipients, expiring at a moment or after a while). The answer's
        ``secret`` is the token's text, shown this once. Not retried."""
        request = _requests.create_token_request(name, scopes, source_ids, recipient_ids, expires)
        return self._unary(self._tokens.CreateToken, request, timeout)

    def list_tokens(
        self, *, show_revoked: bool = False, page_size: int = 100, timeout: float | None = None
    ) -> Iterator[token_service_pb2.AccessToken]:
        """Every token the caller could have created itself, by id (never their text)."""
        page_token = ""
        while True:
            request = token_service_pb2.ListTokensRequest(
                page_size=page_size, page_token=page_token, show_revoked=show_revoked
            )
            page = self._unary(self._tokens.ListTokens, request, timeout, retry=True)
            yield from page.tokens
            page_token = page.next_page_token
            if not page_token:
                return

    def revoke_token(
        self, token_id: str, *, timeout: float | None = None
    ) -> token_service_pb2.AccessToken:
        """Revokes a token; every server refuses it within seconds. Safe to repeat."""
        request = token_service_pb2.RevokeTokenRequest(token_id=token_id)
        return self._unary(self._tokens.RevokeToken, request, timeout, retry=True).token

    def list_audit_records(
        self, filter: str = "", *, page_size: int = 100, timeout: float | None = None
    ) -> Iterator[audit_service_pb2.AuditRecord]:
        """Every audit record matching the AIP-160 ``filter`` (``actor``, ``action``,
        ``target`` with ``=``, ``create_time`` compared with an RFC 3339 time), oldest
        first, fetching ``page_size`` at a time."""
        page_token = ""
        while True:
            request = audit_service_pb2.ListAuditRecordsRequest(
                filter=filter, page_size=page_size, page_token=page_token
            )
            page = self._unary(self._audit.ListAuditRecords, request, timeout, retry=True)
            yield from page.records
            page_token = page.next_page_token
            if not page_token:
                return

    # --- plumbing ------------------------------------------------------------------------

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self._token)

    def _unary(
        self,
        method: grpc.UnaryUnaryMultiCallable[Request, Response],
        request: Request,
        timeout: float | None,
        *,
        retry: bool = False,
        about: str = "",
    ) -> Response:
        """One call; repeated on UNAVAILABLE/DEADLINE_EXCEEDED when ``retry`` (only for calls
        that are safe to repeat), within the RetrySettings."""
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
                return method(request, timeout=deadline, metadata=self._metadata())
            except grpc.RpcError as error:
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
                time.sleep(pause)
                attempt += 1


class EventStream(Generic[EventT]):
    """An iterator over live events that resumes by itself after disconnects. ``cursor``
    is the position reached (resume a later stream after it). Close it with ``close()``
    (from any thread) or by leaving its ``with`` block: iteration then ends."""

    def __init__(
        self,
        method: grpc.UnaryStreamMultiCallable[
            feedback_service_pb2.StreamFeedbackEventsRequest,
            feedback_service_pb2.StreamFeedbackEventsResponse,
        ],
        position: StreamPosition,
        metadata: Callable[[], tuple[tuple[str, str], ...]],
    ) -> None:
        self._method = method
        self._position = position
        self._metadata = metadata
        self._call: grpc.CallIterator[feedback_service_pb2.StreamFeedbackEventsResponse] | None
        self._call = None
        self._items: Iterator[feedback_service_pb2.StreamFeedbackEventsResponse] | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()

    @property
    def cursor(self) -> str:
        """The last cursor received (from an event or a heartbeat); empty before any."""
        return self._position.cursor

    def __iter__(self) -> EventStream[EventT]:
        return self

    def __next__(self) -> EventT:
        while True:
            items = self._open()
            try:
                item = next(items)
            except StopIteration:
                self._drop_call()
                pause = self._position.ended_cleanly()
            except grpc.RpcError as error:
                self._drop_call()
                if self._closed.is_set():
                    raise StopIteration from None
                pause = self._position.pause_before_reconnect(
                    error.code(),
                    error.details(),
                    error.trailing_metadata() if isinstance(error, grpc.Call) else None,
                )
            else:
                event = self._position.accept(item)
                if event is not None:
                    return event  # type: ignore[return-value]
                continue
            if self._closed.wait(pause):
                raise StopIteration

    def _open(self) -> Iterator[feedback_service_pb2.StreamFeedbackEventsResponse]:
        with self._lock:
            if self._closed.is_set():
                raise StopIteration
            if self._items is None:
                self._call = self._method(self._position.request(), metadata=self._metadata())
                self._items = iter(self._call)
            return self._items

    def _drop_call(self) -> None:
        with self._lock:
            self._call, self._items = None, None

    def close(self) -> None:
        """Ends the stream; a thread blocked in ``next()`` gets StopIteration."""
        with self._lock:
            self._closed.set()
            if self._call is not None:
                self._call.cancel()  # type: ignore[no-untyped-call]

    def __enter__(self) -> EventStream[EventT]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
