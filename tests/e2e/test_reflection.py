"""Server reflection in both versions stock tools speak: grpc.reflection.v1 (asked first
by buf curl and grpcurl) and v1alpha, each listing and describing every service."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from support.in_process_server import RunningServer

SERVICES = [
    "backchannel.v1.BatchService",
    "backchannel.v1.DeliveryService",
    "backchannel.v1.FeedbackService",
    "backchannel.v1.RecipientService",
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
