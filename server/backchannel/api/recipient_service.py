"""backchannel.v1.RecipientService."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
from backchannel_client.v1 import recipient_pb2, recipient_service_pb2, recipient_service_pb2_grpc
from google.protobuf import json_format

from backchannel.api.audit_entries import audit_entry
from backchannel.api.conversions import (
    RECIPIENT_STATES,
    RECIPIENT_TYPES,
    kind_name,
    recipient_message,
)
from backchannel.api.cursors import page_size_of
from backchannel.api.data_policy_messages import stored_policy
from backchannel.api.errors import ApiError, Violations, not_found
from backchannel.api.grants import (
    may_read,
    only_recipients,
    require_recipients,
    require_subscription,
)
from backchannel.api.recipient_changes import recipient_action, recipient_changes
from backchannel.api.recipient_secrets import (
    opened,
    require_secrets_for_new_destination,
    sealed,
)
from backchannel.api.validation import RECIPIENT_ID, validate_recipient
from backchannel.batch import config as batch_settings
from backchannel.batch.schedule import next_run
from backchannel.model import RecipientRecord, RecipientState, SealedSecret
from backchannel.plugin import Formatter, Transport
from backchannel.recipient_directory import RecipientDirectory
from backchannel.recipient_transport import prepare, prepare_stored
from backchannel.sealing.key_ring import KeyRing
from backchannel.store import audit as audit_store
from backchannel.store import recipients as recipient_store
from backchannel.store.deliveries import health_of_recipients

Context = grpc.aio.ServicerContext[Any, Any]
_PROBE_DEADLINE = 60.0
_WRITABLE = (
    "data_policy",
    "required_consent_purposes",
    "batch",
    "retry_policy",
    "limits",
    "ordered_delivery",
    "display_name",
    "recipient_type",
    "transport",
    "transport_settings",
    "secret_settings",
    "format",
    "format_options",
    "subscription",
    "state",
)


def _dict(message: Any) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(message)
    return result


def _record(
    recipient: recipient_pb2.Recipient, secrets: Mapping[str, SealedSecret]
) -> RecipientRecord:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return RecipientRecord(
        id=recipient.id,
        display_name=recipient.display_name,
        recipient_type=RECIPIENT_TYPES.get(recipient.recipient_type, ""),
        transport=recipient.transport,
        transport_settings=_dict(recipient.transport_settings),
        sealed_secrets=secrets,
        format=recipient.format,
        format_options=_dict(recipient.format_options),
        subscribed_kinds=tuple(kind_name(k) for k in recipient.subscription.kinds),
        subscribed_source_ids=tuple(recipient.subscription.source_ids),
        state=RECIPIENT_STATES.get(recipient.state, RecipientState.ACTIVE),
        revision=0,
        create_time=now,
        update_time=now,
        retry_delays=(
            tuple(d.ToTimedelta().total_seconds() for d in recipient.retry_policy.retry_delays)
            if recipient.retry_policy.retry_delays
            else None
        ),
        max_attempts=recipient.retry_policy.max_attempts,
        max_age_seconds=(
            recipient.retry_policy.max_age.ToTimedelta().total_seconds()
            if recipient.retry_policy.HasField("max_age")
            else None
        ),
        max_per_second=recipient.limits.max_per_second,
        burst=recipient.limits.burst,
        max_concurrency=recipient.limits.max_concurrency,
        ordered_delivery=recipient.ordered_delivery,
        batch=batch_settings.stored(recipient.batch) if recipient.HasField("batch") else None,
        data_policy=stored_policy(recipient),
        required_consent_purposes=tuple(recipient.required_consent_purposes),
    )


def _next_batch_run(
    recipient: RecipientRecord, before: RecipientRecord | None = None
) -> datetime | None:
    """When a new or changed batch schedule is next due; None when it did not change."""
    if recipient.batch is None:
        return None
    config = batch_settings.batch_config(recipient.batch)
    if before is not None and before.batch is not None:
        old = batch_settings.batch_config(before.batch)
        if (old.cron, old.time_zone) == (config.cron, config.time_zone):
            return None
    return next_run(config.cron, config.time_zone, datetime.now(UTC))


class RecipientService(recipient_service_pb2_grpc.RecipientServiceServicer):
    def __init__(
        self,
        pool: asyncpg.Pool,
        transports: Mapping[str, Transport[Any]],
        formatters: Mapping[str, Formatter],
        directory: RecipientDirectory,
        key_ring: KeyRing,
        batch_signing_key: bool = False,
    ) -> None:
        """``batch_signing_key``: whether the server has a key to sign batch files with."""
        self._pool = pool
        self._directory = directory
        self._batch_signing_key = batch_signing_key
        self._transports = transports
        self._formatters = formatters
        self._ring = key_ring

    async def _violations(
        self, recipient: recipient_pb2.Recipient, secrets: dict[str, Any]
    ) -> Violations:
        violations = Violations()
        await validate_recipient(
            recipient,
            self._transports,
            self._formatters,
            _dict(recipient.transport_settings),
            secrets,
            violations,
        )
        if (
            recipient.HasField("batch")
            and recipient.batch.encryption.sign
            and not self._batch_signing_key
        ):
            violations.add(
                "recipient.batch.encryption.sign",
                "this server has no key to sign with (BACKCHANNEL_BATCH_SIGNING_KEY_FILE)",
            )
        return violations

    async def _check(self, recipient: recipient_pb2.Recipient, secrets: dict[str, Any]) -> None:
        (await self._violations(recipient, secrets)).raise_if_any()

    async def CreateRecipient(
        self, request: recipient_service_pb2.CreateRecipientRequest, context: Context
    ) -> recipient_service_pb2.CreateRecipientResponse:
        recipient = recipient_pb2.Recipient()
        recipient.CopyFrom(request.recipient)
        if not recipient.format:
            recipient.format = "json"
        if recipient.state == recipient_pb2.RECIPIENT_STATE_UNSPECIFIED:
            recipient.state = recipient_pb2.RECIPIENT_STATE_ACTIVE
        secrets = {k: v for k, v in _dict(recipient.secret_settings).items() if v is not None}
        await self._check(recipient, secrets)
        require_recipients([recipient.id], "recipient.id")
        require_subscription(recipient.subscription.source_ids)
        record = _record(recipient, sealed(self._ring, recipient.id, secrets))
        audit = audit_entry(
            context,
            "recipient.create",
            f"recipients/{recipient.id}",
            changes=recipient_changes(None, record),
            recipient_id=recipient.id,
        )
        try:
            stored = await recipient_store.create_recipient(
                self._pool, record, audit, _next_batch_run(record)
            )
        except recipient_store.RecipientExistsError as error:
            raise ApiError(
                grpc.StatusCode.ALREADY_EXISTS,
                "RECIPIENT_EXISTS",
                f"recipient {recipient.id!r} already exists",
                metadata={"recipient_id": recipient.id},
            ) from error
        self._directory.remember(stored.id, stored)
        return recipient_service_pb2.CreateRecipientResponse(recipient=recipient_message(stored))

    async def GetRecipient(
        self, request: recipient_service_pb2.GetRecipientRequest, context: Context
    ) -> recipient_service_pb2.GetRecipientResponse:
        _require_id(request.recipient_id)
        stored = None
        if may_read(recipient_id=request.recipient_id):
            stored = await recipient_store.get_recipient(self._pool, request.recipient_id)
        if stored is None:
            raise not_found("recipient", request.recipient_id, "RECIPIENT_NOT_FOUND")
        health = await health_of_recipients(self._pool, [stored.id])
        return recipient_service_pb2.GetRecipientResponse(
            recipient=recipient_message(stored, health.get(stored.id))
        )

    async def ListRecipients(
        self, request: recipient_service_pb2.ListRecipientsRequest, context: Context
    ) -> recipient_service_pb2.ListRecipientsResponse:
        page_size = page_size_of(request.page_size)
        after = request.page_token
        if after and not RECIPIENT_ID.fullmatch(after):
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
                "page_token is not a token returned by ListRecipients",
                [("page_token", "is not a token returned by ListRecipients")],
            )
        records = await recipient_store.list_recipients(
            self._pool, after, page_size + 1, only_recipients()
        )
        page = records[:page_size]
        health = await health_of_recipients(self._pool, [r.id for r in page])
        return recipient_service_pb2.ListRecipientsResponse(
            recipients=[recipient_message(r, health.get(r.id)) for r in page],
            next_page_token=page[-1].id if len(records) > page_size else "",
        )

    async def UpdateRecipient(
        self, request: recipient_service_pb2.UpdateRecipientRequest, context: Context
    ) -> recipient_service_pb2.UpdateRecipientResponse:
        given = request.recipient
        _require_id(given.id, "recipient.id")
        paths = list(request.update_mask.paths) or [
            name for name in _WRITABLE if _is_set(given, name)
        ]
        unknown = [p for p in paths if p not in _WRITABLE]
        if unknown:
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
                "update_mask names fields that cannot be changed",
                [
                    (f"update_mask.paths[{paths.index(p)}]", f"{p!r} cannot be changed")
                    for p in unknown
                ],
            )
        require_recipients([given.id], "recipient.id")
        secrets_written = (
            [k for k, v in _dict(given.secret_settings).items() if v is not None]
            if "secret_settings" in paths
            else []
        )
        async with self._pool.acquire() as connection, connection.transaction():
            try:
                before = await recipient_store.lock_recipient(connection, given.id)
            except recipient_store.RecipientMissingError as error:
                raise not_found("recipient", given.id, "RECIPIENT_NOT_FOUND") from error
            if given.etag and given.etag != f'"{before.revision}"':
                raise ApiError(
                    grpc.StatusCode.ABORTED,
                    "ETAG_MISMATCH",
                    "the recipient changed since it was read; read it again and retry",
                )
            merged = recipient_message(before)
            given_secrets = _dict(given.secret_settings) if "secret_settings" in paths else {}
            stored_secrets = opened(self._ring, before, replaced=given_secrets)
            secrets = dict(stored_secrets)
            for path in paths:
                if path == "secret_settings":
                    for name, value in given_secrets.items():
                        if value is None:
                            secrets.pop(name, None)
                        else:
                            secrets[name] = value
                elif path in (
                    "transport_settings",
                    "format_options",
                    "subscription",
                    "retry_policy",
                    "limits",
                    "batch",
                ):
                    getattr(merged, path).CopyFrom(getattr(given, path))
                elif path == "data_policy":
                    # Unset in the update: back to the default policy.
                    if given.HasField("data_policy"):
                        merged.data_policy.CopyFrom(given.data_policy)
                    else:
                        merged.ClearField("data_policy")
                elif path == "required_consent_purposes":
                    del merged.required_consent_purposes[:]
                    merged.required_consent_purposes.extend(given.required_consent_purposes)
                else:
                    setattr(merged, path, getattr(given, path))
            if merged.state == recipient_pb2.RECIPIENT_STATE_UNSPECIFIED:
                merged.state = recipient_pb2.RECIPIENT_STATE_ACTIVE
            if not merged.format:
                merged.format = "json"
            violations = await self._violations(merged, secrets)
            require_secrets_for_new_destination(
                before,
                stored_secrets,
                merged.transport,
                self._transports.get(merged.transport),
                _dict(merged.transport_settings),
                secrets,
                given_secrets,
                violations,
            )
            violations.raise_if_any()
            require_subscription(merged.subscription.source_ids)
            after = dataclasses.replace(
                _record(merged, sealed(self._ring, merged.id, secrets)),
                revision=before.revision,
                disabled_reason=before.disabled_reason
                if merged.state == recipient_pb2.RECIPIENT_STATE_DISABLED
                else "",
            )
            stored = await recipient_store.save_recipient(
                connection, before, after, _next_batch_run(after, before)
            )
            await audit_store.record_change(
                connection,
                audit_entry(
                    context,
                    recipient_action(before, after),
                    f"recipients/{given.id}",
                    changes=recipient_changes(before, after, secrets_written),
                    recipient_id=given.id,
                ),
            )
        self._directory.remember(stored.id, stored)
        health = await health_of_recipients(self._pool, [stored.id])
        return recipient_service_pb2.UpdateRecipientResponse(
            recipient=recipient_message(stored, health.get(stored.id))
        )

    async def TestRecipient(
        self, request: recipient_service_pb2.TestRecipientRequest, context: Context
    ) -> recipient_service_pb2.TestRecipientResponse:
        target = request.WhichOneof("target")
        if target == "recipient_id":
            _require_id(request.recipient_id)
            require_recipients([request.recipient_id])
            stored = await recipient_store.get_recipient(self._pool, request.recipient_id)
            if stored is None:
                raise not_found("recipient", request.recipient_id, "RECIPIENT_NOT_FOUND")
            transport = self._installed(stored.transport)
            prepared = prepare_stored(transport, stored, self._ring)
        elif target == "recipient":
            recipient = recipient_pb2.Recipient()
            recipient.CopyFrom(request.recipient)
            if not recipient.format:
                recipient.format = "json"
            secrets = {k: v for k, v in _dict(recipient.secret_settings).items() if v is not None}
            await self._check(recipient, secrets)
            transport = self._installed(recipient.transport)
            prepared = prepare(transport, _dict(recipient.transport_settings), secrets)
        else:
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
                "name a recipient_id or give a recipient to test",
                [("target", "is required: recipient_id or recipient")],
            )
        steps = await prepared.probe(_PROBE_DEADLINE)
        return recipient_service_pb2.TestRecipientResponse(
            passed=bool(steps) and all(s.passed for s in steps),
            steps=[
                recipient_service_pb2.ProbeStep(name=s.name, passed=s.passed, detail=s.detail)
                for s in steps
            ],
        )

    def _installed(self, transport_name: str) -> Transport[Any]:
        transport = self._transports.get(transport_name)
        if transport is None:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "TRANSPORT_NOT_INSTALLED",
                f"transport {transport_name!r} is not installed on this server",
            )
        return transport

    async def DeleteRecipient(
        self, request: recipient_service_pb2.DeleteRecipientRequest, context: Context
    ) -> recipient_service_pb2.DeleteRecipientResponse:
        _require_id(request.recipient_id)
        require_recipients([request.recipient_id])
        audit = audit_entry(
            context,
            "recipient.delete",
            f"recipients/{request.recipient_id}",
            recipient_id=request.recipient_id,
        )
        try:
            await recipient_store.delete_recipient(self._pool, request.recipient_id, audit)
        except recipient_store.RecipientMissingError as error:
            raise not_found("recipient", request.recipient_id, "RECIPIENT_NOT_FOUND") from error
        self._directory.remember(request.recipient_id, None)
        return recipient_service_pb2.DeleteRecipientResponse()


def _is_set(message: recipient_pb2.Recipient, name: str) -> bool:
    field = message.DESCRIPTOR.fields_by_name[name]
    if field.message_type is not None:
        return message.HasField(name)  # type: ignore[arg-type]
    return bool(getattr(message, name))


def _require_id(recipient_id: str, field: str = "recipient_id") -> None:
    if not RECIPIENT_ID.fullmatch(recipient_id):
        raise ApiError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            f"{field} is not a valid recipient id",
            [(field, "is required: lower-case letters, digits and '-', starting with a letter")],
        )
