"""Server reflection in both versions stock tools speak: grpc.reflection.v1 (asked first
by buf curl and grpcurl) and v1alpha, each listing and describing every service; and
none at all when BACKCHANNEL_REFLECTION is off."""

from __future__ import annotations

import asyncio
import shutil

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from support.in_process_server import RunningServer, serving

SERVICES = [
    "backchannel.v1.AuditService",
    "backchannel.v1.BatchService",
    "backchannel.v1.DeliveryService",
    "backchannel.v1.FeedbackService",
    "backchannel.v1.RecipientService",
    "backchannel.v1.ReportService",
    "backchannel.v1.TokenService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
]
PROTOCOLS = ["grpc-v1", "grpc-v1alpha"]


async def buf_curl_lines(running: RunningServer, *arguments: str) -> list[str]:
    """The lines ``buf curl`` prints for ``arguments`` against ``running``."""
    buf = shutil.which("buf")
    assert buf is not None, "the buf CLI (npm @bufbuild/buf) is not on PATH"
    process = await asyncio.create_subprocess_exec(
        buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge", *arguments,
        f"http://{running.address}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode().splitlines()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_reflection_lists_every_service(backchannel: RunningServer, protocol: str) -> None:
    listed = await buf_curl_lines(backchannel, "--reflect-protocol", protocol, "--list-services")

    assert sorted(listed) == SERVICES


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_reflection_describes_every_service_down_to_its_methods(
    backchannel: RunningServer, protocol: str
) -> None:
    methods = await buf_curl_lines(backchannel, "--reflect-protocol", protocol, "--list-methods")

    assert {method.rpartition("/")[0] for method in methods} == set(SERVICES)
    assert "backchannel.v1.FeedbackService/SendFeedback" in methods
    assert "grpc.reflection.v1.ServerReflection/ServerReflectionInfo" in methods


async def test_reflection_switched_off_is_not_served(database_url: str) -> None:
    async with serving(database_url, reflection="off") as running:
        stub = reflection_pb2_grpc.ServerReflectionStub(running.channel)
        call = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call.read()

    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
