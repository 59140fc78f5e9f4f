"""A recipient's secrets as the API handles them: sealed before they are stored, opened
only to merge an update or for TestRecipient, and required again when an update changes
where the recipient points (a stored password must not follow a recipient to a server its
editor chose, as a browser drops credentials on a redirect to another origin)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import grpc

from backchannel.api.errors import ApiError, Violations
from backchannel.destination_change import UNREADABLE, changed_destination
from backchannel.model import RecipientRecord, SealedSecret
from backchannel.plugin import Transport
from backchannel.sealing.key_ring import KeyRing
from backchannel.sealing.sealed_values import (
    NoSecretKey,
    SecretsUnreadable,
    open_sealed,
    seal_secrets,
)


def sealed(ring: KeyRing, recipient_id: str, secrets: Mapping[str, Any]) -> dict[str, SealedSecret]:
    """``secrets`` sealed for storing; FAILED_PRECONDITION when no key is configured."""
    try:
        return seal_secrets(ring, recipient_id, secrets)
    except NoSecretKey as error:
        raise ApiError(
            grpc.StatusCode.FAILED_PRECONDITION, "SECRET_KEYS_NOT_CONFIGURED", str(error)
        ) from None


def opened(
    ring: KeyRing, record: RecipientRecord, replaced: Collection[str] = ()
) -> dict[str, Any]:
    """The stored secrets of ``record``, opened. One that does not open is FAILED_PRECONDITION
    (naming the key id), unless it is among ``replaced``, which the caller gives anew: it
    stands as ``UNREADABLE`` then (a destination setting it holds counts as changed)."""
    values: dict[str, Any] = {}
    for name, value in record.sealed_secrets.items():
        try:
            values[name] = open_sealed(ring, record.id, name, value)
        except SecretsUnreadable as error:
            if name not in replaced:
                raise ApiError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "SECRETS_UNREADABLE",
                    str(error),
                    metadata={"recipient_id": record.id, "key_id": error.key_id},
                ) from None
            values[name] = UNREADABLE
    return values


def require_secrets_for_new_destination(
    before: RecipientRecord,
    before_secrets: Mapping[str, Any],
    after_transport: str,
    transport: Transport[Any] | None,
    after_settings: Mapping[str, Any],
    after_secrets: Mapping[str, Any],
    given: Collection[str],
    violations: Violations,
) -> None:
    """When the update changes the recipient's destination, each stored secret the update
    does not give again (or remove) is a violation."""
    changed = changed_destination(
        before.transport,
        after_transport,
        transport,
        {**before.transport_settings, **before_secrets},
        {**after_settings, **after_secrets},
    )
    if not changed:
        return
    already = {field for field, _ in violations.items}
    for name in sorted(set(before.sealed_secrets) - set(given)):
        field = f"recipient.secret_settings.{name}"
        if field not in already:
            violations.add(
                field,
                f"must be given again: the update changes where the recipient points "
                f"({', '.join(changed)}), and stored secrets do not follow it there; give "
                "it in the same update, or null to remove it",
            )
