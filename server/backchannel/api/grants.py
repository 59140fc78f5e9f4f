"""What the current caller's grant lets it reach: servicers narrow what they read to it
(filtering, never an error, so a narrower caller just sees less) and refuse what it does
not cover. Anything a caller may not read is answered as if it did not exist, so no
answer says whether something outside its grant exists."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import grpc

from backchannel.api.caller import current_caller
from backchannel.api.errors import ApiError
from backchannel.event_filter import EventFilter, Operator, condition
from backchannel.model import Grant


def grant() -> Grant:
    return current_caller().grant


def require_source(source_id: str, field: str = "feedback.lead.source_id") -> None:
    """PERMISSION_DENIED unless the caller may send and read feedback of ``source_id``."""
    if not grant().allows_source(source_id):
        raise ApiError(
            grpc.StatusCode.PERMISSION_DENIED,
            "SOURCE_NOT_GRANTED",
            f"{field}: the caller may not use source {source_id!r}",
            metadata={"source_id": source_id},
        )


def require_recipients(recipient_ids: Iterable[str], field: str = "recipient_id") -> None:
    """PERMISSION_DENIED unless the caller may name every one of ``recipient_ids`` (said
    before anything is looked up, so it tells nothing of whether they exist)."""
    current = grant()
    outside = [r for r in recipient_ids if not current.allows_recipient(r)]
    if outside:
        raise ApiError(
            grpc.StatusCode.PERMISSION_DENIED,
            "RECIPIENT_NOT_GRANTED",
            f"{field}: the caller may not use recipient " + ", ".join(repr(r) for r in outside),
            metadata={"recipient_ids": ",".join(outside)},
        )


def require_subscription(source_ids: Iterable[str]) -> None:
    """A caller narrowed to some sources may only make recipients hear those sources:
    PERMISSION_DENIED for a subscription to every source or to another one."""
    allowed = grant().source_ids
    if not allowed:
        return
    wanted = set(source_ids)
    if not wanted or not wanted <= allowed:
        raise ApiError(
            grpc.StatusCode.PERMISSION_DENIED,
            "SOURCE_NOT_GRANTED",
            "subscription.source_ids: a caller narrowed to sources "
            f"{', '.join(sorted(allowed))} must subscribe recipients to some of those only",
            metadata={"source_ids": ",".join(sorted(allowed))},
        )


def may_read(source_id: str | None = None, recipient_id: str | None = None) -> bool:
    current = grant()
    return (source_id is None or current.allows_source(source_id)) and (
        recipient_id is None or current.allows_recipient(recipient_id)
    )


def only_recipients() -> list[str] | None:
    """The recipients the caller is narrowed to, for a query; None: every one."""
    ids = grant().recipient_ids
    return sorted(ids) if ids else None


def only_sources() -> list[str] | None:
    """The sources the caller is narrowed to, for a query; None: every one."""
    ids = grant().source_ids
    return sorted(ids) if ids else None


def readable_events(event_filter: EventFilter) -> EventFilter:
    """``event_filter`` narrowed to the events the caller may read: those of its sources
    and its recipients. Operator events belong to no source, so a caller narrowed to
    sources gets none."""
    current = grant()
    conditions = []
    if current.source_ids:
        conditions.append(condition("source_id", Operator.EQ, *sorted(current.source_ids)))
        event_filter = dataclasses.replace(event_filter, include_operator_events=False)
    if current.recipient_ids:
        conditions.append(condition("recipient_id", Operator.EQ, *sorted(current.recipient_ids)))
    return event_filter.narrowed(conditions) if conditions else event_filter
