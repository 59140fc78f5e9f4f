"""The audit entry of a change the current call makes: who (the caller), what, to what,
and the call's request id and trace id. Servicers build it and the store writes it in the
transaction of the change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from opentelemetry import trace

from backchannel.api.caller import current_caller
from backchannel.api.validation import REQUEST_ID
from backchannel.model import AuditEntry, FieldChange

Context = grpc.aio.ServicerContext[Any, Any]

#: Metadata a caller may send to tie the record to its own request.
REQUEST_ID_HEADER = "x-request-id"


def audit_entry(
    context: Context,
    action: str,
    target: str,
    *,
    changes: Iterable[FieldChange] = (),
    details: Iterable[tuple[str, str]] = (),
    recipient_id: str | None = None,
    source_id: str | None = None,
) -> AuditEntry:
    caller = current_caller()
    return AuditEntry(
        actor=caller.name,
        actor_kind=caller.kind.value,
        actor_token_id=caller.token_id,
        action=action,
        target=target,
        changes=tuple(changes),
        details=tuple(details),
        request_id=_request_id(context),
        trace_id=_trace_id(),
        recipient_id=recipient_id,
        source_id=source_id,
    )


def _request_id(context: Context) -> str:
    """The call's ``x-request-id``, when it is a plausible one (printable ASCII, at most
    128 characters); else nothing rather than whatever was sent."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_HEADER and isinstance(value, str) and REQUEST_ID.fullmatch(value):
            return value
    return ""


def _trace_id() -> str:
    span_context = trace.get_current_span().get_span_context()
    return f"{span_context.trace_id:032x}" if span_context.is_valid else ""
