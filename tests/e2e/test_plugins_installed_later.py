"""A plugin installed while the server runs is not loaded until it restarts (plugins are
loaded once, at start-up); a recipient naming its transport is told so, not that no such
plugin is installed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from backchannel_client.v1 import recipient_pb2, recipient_service_pb2
from support.in_process_server import RunningServer
from support.rpc_errors import rich_error


@pytest.fixture
def installed_later(tmp_path: Path) -> Iterator[None]:
    """A plugin distribution appearing in the environment, as `pip install` makes one."""
    info = tmp_path / "backchannel_latecomer-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: backchannel-latecomer\nVersion: 0.3.0\n"
    )
    (info / "entry_points.txt").write_text("[backchannel]\nlatecomer = backchannel_latecomer\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield
    finally:
        sys.path.remove(str(tmp_path))


async def test_a_transport_installed_after_start_is_reported_as_waiting_for_a_restart(
    backchannel: RunningServer, installed_later: None
) -> None:
    recipient = recipient_pb2.Recipient(
        id="late",
        recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
        transport="latecomer",
        format="json",
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await backchannel.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
        )

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = rich_error(refused.value).bad_request.field_violations  # type: ignore[union-attr]
    assert violation.field == "recipient.transport"
    assert "installed but not loaded: backchannel-latecomer 0.3.0" in violation.description
    assert "restart" in violation.description
