"""backchannel.v1.AuditService: the audit trail, oldest first, filtered (AIP-160 subset:
actor, action, target, create_time) and paged (AIP-158). A caller whose grant is narrowed
sees only the records about its recipients and sources."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import asyncpg
import grpc
from backchannel_client.v1 import audit_service_pb2, audit_service_pb2_grpc

from backchannel.api.conversions import timestamp
from backchannel.api.cursors import decode_sequence_token, encode_sequence_token, page_size_of
from backchannel.api.event_filters import parse_conditions
from backchannel.api.grants import only_recipients, only_sources
from backchannel.event_filter import FieldKind, FilterField, Operator
from backchannel.model import AuditRecord
from backchannel.store import audit as audit_store

Context = grpc.aio.ServicerContext[Any, Any]

AUDIT_FILTER_FIELDS: dict[str, FilterField] = {
    field.name: field
    for field in (
        FilterField("actor", FieldKind.TEXT),
        FilterField("action", FieldKind.TEXT),
        FilterField("target", FieldKind.TEXT),
        FilterField("create_time", FieldKind.TIME),
    )
}
_TIME_BOUNDS = {
    Operator.GT: "after_times",
    Operator.GE: "from_times",
    Operator.LT: "before_times",
    Operator.LE: "until_times",
}


def audit_query(filter_text: str) -> audit_store.AuditQuery:
    """The store's query for ``filter_text``, narrowed to what the caller may see."""
    values: dict[str, list[Any]] = defaultdict(list)
    for condition in parse_conditions(filter_text, "filter", AUDIT_FILTER_FIELDS):
        value = condition.values[0]
        if condition.field.kind is FieldKind.TEXT:
            values[f"{condition.field.name}s"].append(value)
        elif condition.operator is Operator.EQ:
            values["from_times"].append(value)
            values["until_times"].append(value)
        else:
            values[_TIME_BOUNDS[condition.operator]].append(value)
    return audit_store.AuditQuery(
        **values, recipient_ids=only_recipients(), source_ids=only_sources()
    )


def audit_record_message(record: AuditRecord) -> audit_service_pb2.AuditRecord:
    entry = record.entry
    return audit_service_pb2.AuditRecord(
        id=record.id,
        create_time=timestamp(record.create_time),
        actor=entry.actor,
        actor_kind=entry.actor_kind,
        actor_token_id=entry.actor_token_id,
        action=entry.action,
        target=entry.target,
        changes=[
            audit_service_pb2.FieldChange(
                field=c.field, old_value=c.old_value, new_value=c.new_value, secret=c.secret
            )
            for c in entry.changes
        ],
        details=dict(entry.details),
        request_id=entry.request_id,
        trace_id=entry.trace_id,
    )


class AuditService(audit_service_pb2_grpc.AuditServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ListAuditRecords(
        self, request: audit_service_pb2.ListAuditRecordsRequest, context: Context
    ) -> audit_service_pb2.ListAuditRecordsResponse:
        page_size = page_size_of(request.page_size)
        query = audit_query(request.filter)
        after = (
            decode_sequence_token(request.page_token, request.filter) if request.page_token else 0
        )
        records = await audit_store.list_audit_records(self._pool, query, after, page_size + 1)
        page = records[:page_size]
        return audit_service_pb2.ListAuditRecordsResponse(
            records=[audit_record_message(r) for r in page],
            next_page_token=(
                encode_sequence_token(page[-1].seq, request.filter)
                if len(records) > page_size
                else ""
            ),
        )
