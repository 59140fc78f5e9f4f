"""The one table of what each RPC needs (api/method_scopes.py) covers every method of every
service the server registers, as reflection lists them; only health and reflection are
open. A new RPC without an entry fails here (and the server refuses its calls)."""

from __future__ import annotations

from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from support.in_process_server import RunningServer

from backchannel.api.method_scopes import METHOD_SCOPES, OPEN_SERVICES


async def registered_methods(running: RunningServer) -> dict[str, list[str]]:
    """Each service the server lists by reflection, with its methods as /Service/Method."""
    stub = reflection_pb2_grpc.ServerReflectionStub(running.channel)
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    answer = await call.read()
    call.cancel()
    pool = descriptor_pool.Default()
    return {
        service.name: [
            f"/{service.name}/{method.name}"
            for method in pool.FindServiceByName(service.name).methods
        ]
        for service in answer.list_services_response.service
    }


async def test_every_method_of_every_registered_service_needs_a_scope(
    backchannel: RunningServer,
) -> None:
    methods = await registered_methods(backchannel)

    missing = [
        method
        for service, names in methods.items()
        if service not in OPEN_SERVICES
        for method in names
        if method not in METHOD_SCOPES
    ]
    assert "grpc.health.v1.Health" in methods
    assert missing == []


async def test_the_table_names_only_methods_the_server_serves(backchannel: RunningServer) -> None:
    served = {m for names in (await registered_methods(backchannel)).values() for m in names}

    assert set(METHOD_SCOPES) <= served
