"""A recipient's secrets as the API handles them: sealed before they are stored, opened
only to merge an update or for TestRecipient."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import grpc

from backchannel.api.errors import ApiError
from backchannel.model import RecipientRecord, SealedSecret
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
    (naming the key id), unless it is among ``replaced``, which the caller gives anew."""
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
    return values
