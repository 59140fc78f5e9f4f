"""RecipientService calls as the recipient tests make them: Structs from dicts, create and
update, and the fields an INVALID_ARGUMENT names."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

import grpc
import pytest
from backchannel_client.v1 import recipient_pb2, recipient_service_pb2, recipient_service_pb2_grpc
from google.protobuf import field_mask_pb2, struct_pb2

from support.rpc_errors import rich_error


class HasRecipients(Protocol):
    @property
    def recipients(self) -> recipient_service_pb2_grpc.RecipientServiceStub: ...


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


async def create(server: HasRecipients, recipient: recipient_pb2.Recipient) -> None:
    await server.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
    )


async def update(
    server: HasRecipients, recipient: recipient_pb2.Recipient, *paths: str
) -> recipient_pb2.Recipient:
    """Updates the fields ``paths`` name (all that ``recipient`` sets, when none)."""
    answer = await server.recipients.UpdateRecipient(
        recipient_service_pb2.UpdateRecipientRequest(
            recipient=recipient, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
        )
    )
    return answer.recipient


async def invalid_fields(call: Awaitable[Any]) -> list[str]:
    """The fields named by the INVALID_ARGUMENT ``call`` must fail with."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    return rich_error(refused.value).violated_fields
