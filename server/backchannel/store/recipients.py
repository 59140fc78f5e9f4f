"""Recipient rows: create, read, list, update, soft-delete."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from backchannel.model import (
    AuditEntry,
    EventCategory,
    RecipientRecord,
    RecipientState,
    SealedSecret,
    operator_event,
)
from backchannel.store.audit import record_change
from backchannel.store.database import DbConnection
from backchannel.store.event_rows import write_events
from backchannel.store.queries import execute, fetch, fetchrow, fetchval


class RecipientExistsError(Exception):
    """A live recipient already has the id."""


class RecipientMissingError(Exception):
    """No live recipient has the id."""


def recipient_from_row(row: asyncpg.Record) -> RecipientRecord:
    return RecipientRecord(
        id=row["id"],
        display_name=row["display_name"],
        recipient_type=row["recipient_type"],
        transport=row["transport"],
        transport_settings=row["transport_settings"],
        sealed_secrets=sealed_secrets_from_json(row["sealed_secrets"]),
        format=row["format"],
        format_options=row["format_options"],
        subscribed_kinds=tuple(row["subscribed_kinds"]),
        subscribed_source_ids=tuple(row["subscribed_source_ids"]),
        state=RecipientState(row["state"]),
        revision=row["revision"],
        create_time=row["create_time"],
        update_time=row["update_time"],
        retry_delays=(
            None if row["retry_delays_seconds"] is None else tuple(row["retry_delays_seconds"])
        ),
        max_attempts=row["max_attempts"],
        max_age_seconds=row["max_age_seconds"],
        max_per_second=row["max_per_second"],
        burst=row["burst"],
        max_concurrency=row["max_concurrency"],
        ordered_delivery=row["ordered_delivery"],
        disabled_reason=row["disabled_reason"],
        batch=row["batch"],
        data_policy=row["data_policy"],
        required_consent_purposes=tuple(row["required_consent_purposes"]),
    )


def sealed_secrets_json(sealed: Mapping[str, SealedSecret]) -> dict[str, dict[str, str]]:
    """Sealed secrets as the ``sealed_secrets`` column holds them."""
    return {
        name: {
            "key_id": value.key_id,
            "nonce": base64.b64encode(value.nonce).decode("ascii"),
            "ciphertext": base64.b64encode(value.ciphertext).decode("ascii"),
        }
        for name, value in sealed.items()
    }


def sealed_secrets_from_json(stored: Mapping[str, Any]) -> dict[str, SealedSecret]:
    return {
        name: SealedSecret(
            value["key_id"], base64.b64decode(value["nonce"]), base64.b64decode(value["ciphertext"])
        )
        for name, value in stored.items()
    }


def _values(recipient: RecipientRecord) -> dict[str, Any]:
    """The recipient's columns, by name, as insert_recipient and update_recipient take them."""
    return {
        "id": recipient.id,
        "display_name": recipient.display_name,
        "recipient_type": recipient.recipient_type,
        "transport": recipient.transport,
        "transport_settings": recipient.transport_settings,
        "sealed_secrets": sealed_secrets_json(recipient.sealed_secrets),
        "format": recipient.format,
        "format_options": recipient.format_options,
        "subscribed_kinds": list(recipient.subscribed_kinds),
        "subscribed_source_ids": list(recipient.subscribed_source_ids),
        "state": recipient.state,
        "retry_delays_seconds": (
            None if recipient.retry_delays is None else list(recipient.retry_delays)
        ),
        "max_attempts": recipient.max_attempts,
        "max_age_seconds": recipient.max_age_seconds,
        "max_per_second": recipient.max_per_second,
        "burst": recipient.burst,
        "max_concurrency": recipient.max_concurrency,
        "ordered_delivery": recipient.ordered_delivery,
        "disabled_reason": recipient.disabled_reason,
        "batch": recipient.batch,
        "data_policy": recipient.data_policy,
        "required_consent_purposes": list(recipient.required_consent_purposes),
    }


async def create_recipient(
    pool: asyncpg.Pool,
    recipient: RecipientRecord,
    audit: AuditEntry,
    next_batch_run: datetime | None = None,
) -> RecipientRecord:
    """Stores a new recipient and the audit record of its creation, in one transaction.
    ``next_batch_run``: when a batch recipient's first scheduled batch is due."""
    async with pool.acquire() as connection, connection.transaction():
        row = await fetchrow(connection, "insert_recipient", **_values(recipient))
        if row is None:
            raise RecipientExistsError(recipient.id)
        await record_change(connection, audit)
        await _save_schedule(connection, recipient.id, recipient.batch, next_batch_run)
        await execute(connection, "notify_recipient_changed", recipient_id=recipient.id)
        return recipient_from_row(row)


async def get_recipient(pool: asyncpg.Pool, recipient_id: str) -> RecipientRecord | None:
    row = await fetchrow(pool, "select_recipient", recipient_id=recipient_id)
    return None if row is None else recipient_from_row(row)


async def get_recipients(
    pool: asyncpg.Pool, recipient_ids: Sequence[str]
) -> dict[str, RecipientRecord]:
    rows = await fetch(pool, "select_recipients_by_ids", recipient_ids=list(recipient_ids))
    return {row["id"]: recipient_from_row(row) for row in rows}


async def recipient_in_any_state(pool: asyncpg.Pool, recipient_id: str) -> RecipientRecord | None:
    """The recipient as it is now, deleted or not."""
    rows = await fetch(pool, "select_recipients_any_state", recipient_ids=[recipient_id])
    return recipient_from_row(rows[0]) if rows else None


async def list_recipients(
    pool: asyncpg.Pool, after_id: str, limit: int, only_ids: Sequence[str] | None = None
) -> list[RecipientRecord]:
    """Live recipients by id after ``after_id``; only those of ``only_ids`` unless None."""
    rows = await fetch(
        pool,
        "list_recipients",
        after_id=after_id,
        limit=limit,
        only_ids=None if only_ids is None else list(only_ids),
    )
    return [recipient_from_row(row) for row in rows]


async def live_recipients(pool: asyncpg.Pool) -> tuple[int, list[RecipientRecord]]:
    """Every live recipient and the directory version they are as of (one snapshot)."""
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        version: int = await fetchval(connection, "recipient_directory_version")
        rows = await fetch(connection, "select_live_recipients")
    return version, [recipient_from_row(row) for row in rows]


async def directory_version(pool: asyncpg.Pool) -> int:
    version: int = await fetchval(pool, "recipient_directory_version")
    return version


async def lock_recipient(connection: DbConnection, recipient_id: str) -> RecipientRecord:
    row = await fetchrow(connection, "select_recipient_for_update", recipient_id=recipient_id)
    if row is None:
        raise RecipientMissingError(recipient_id)
    return recipient_from_row(row)


async def save_recipient(
    connection: DbConnection,
    before: RecipientRecord,
    after: RecipientRecord,
    next_batch_run: datetime | None = None,
) -> RecipientRecord:
    """Writes ``after`` over a row locked with :func:`lock_recipient`; moves deliveries
    between pending and held when the state changes, and back to individual delivery when
    it stops taking batches. ``next_batch_run``: when its schedule (new or changed) is next
    due; None keeps the schedule as it is."""
    row = await fetchrow(connection, "update_recipient", **_values(after))
    if row is None:
        raise RecipientMissingError(after.id)
    await _save_schedule(connection, after.id, after.batch, next_batch_run)
    if before.batch is not None and after.batch is None:
        await execute(connection, "release_awaiting_batch_of_recipient", recipient_id=after.id)
        await execute(connection, "notify_deliveries_due")
    if before.state == RecipientState.ACTIVE and after.state != RecipientState.ACTIVE:
        await execute(connection, "hold_deliveries_of_recipient", recipient_id=after.id)
    elif before.state != RecipientState.ACTIVE and after.state == RecipientState.ACTIVE:
        await execute(connection, "release_held_deliveries_of_recipient", recipient_id=after.id)
        await execute(connection, "notify_deliveries_due")
    if before.state != after.state and RecipientState.DISABLED in (before.state, after.state):
        now = row["update_time"]
        if after.state == RecipientState.DISABLED:
            event = operator_event(
                EventCategory.RECIPIENT_DISABLED, after.id, "disabled by an operator", now
            )
        else:
            # A fresh start: the failures that got it disabled are history.
            await execute(connection, "reset_recipient_health", recipient_id=after.id)
            event = operator_event(
                EventCategory.RECIPIENT_ENABLED, after.id, f"set {after.state} by an operator", now
            )
        await write_events(connection, [event])
    await execute(connection, "notify_recipient_changed", recipient_id=after.id)
    return recipient_from_row(row)


async def delete_recipient(pool: asyncpg.Pool, recipient_id: str, audit: AuditEntry) -> None:
    """Deletes the recipient (cancelling its open deliveries) and records it, in one
    transaction."""
    async with pool.acquire() as connection, connection.transaction():
        if await fetchrow(connection, "soft_delete_recipient", recipient_id=recipient_id) is None:
            raise RecipientMissingError(recipient_id)
        await record_change(connection, audit)
        await execute(connection, "cancel_open_deliveries_of_recipient", recipient_id=recipient_id)
        await execute(connection, "notify_recipient_changed", recipient_id=recipient_id)


async def _save_schedule(
    connection: DbConnection,
    recipient_id: str,
    batch: dict[str, Any] | None,
    next_run: datetime | None,
) -> None:
    if batch is None:
        await execute(connection, "delete_batch_schedule", recipient_id=recipient_id)
    elif next_run is not None:
        await execute(
            connection, "save_batch_schedule", recipient_id=recipient_id, next_run_at=next_run
        )
