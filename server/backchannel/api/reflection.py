"""Server reflection, as ``grpc.reflection.v1`` and as ``grpc.reflection.v1alpha``.

grpcio-reflection (1.85) serves only v1alpha (grpc/grpc#38576), while tools such as
``buf curl`` and grpcurl ask for v1 first. The two protocols are the same messages, field
for field, under another package name, so one servicer answers both: registered under
the v1 name with the v1alpha message classes (the bytes are the same), and with the v1
file descriptor (the v1alpha one renamed) added to the descriptor pool, so reflection can
also describe itself under its v1 name. Once grpcio-reflection ships v1, use its module
instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME
V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
_V1ALPHA_PACKAGE = "grpc.reflection.v1alpha"
_V1_PACKAGE = "grpc.reflection.v1"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serves reflection of ``service_names`` (full names) and of reflection itself, in
    both versions, on ``server``."""
    _add_v1_descriptors(descriptor_pool.Default())
    names = (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    # grpc_reflection's documented asyncio servicer, re-exported without __all__.
    servicer = reflection.aio.ReflectionServicer(names)  # type: ignore[attr-defined]
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1_handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                V1_SERVICE_NAME, {"ServerReflectionInfo": v1_handler}
            ),
        )
    )


def _add_v1_descriptors(pool: descriptor_pool.DescriptorPool) -> None:
    try:
        pool.FindFileByName(_V1_FILE)
        return  # added for an earlier server of this process
    except KeyError:
        pass
    v1 = descriptor_pb2.FileDescriptorProto.FromString(reflection_pb2.DESCRIPTOR.serialized_pb)
    v1.name = _V1_FILE
    v1.package = _V1_PACKAGE
    v1.options.ClearField("deprecated")  # v1alpha is deprecated in favour of this
    v1.options.java_package = "io.grpc.reflection.v1"
    v1.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    for message in v1.message_type:
        for field in message.field:
            if field.HasField("type_name"):  # scalars have none, and must not get one
                field.type_name = _in_v1(field.type_name)
    for service in v1.service:
        for method in service.method:
            method.input_type = _in_v1(method.input_type)
            method.output_type = _in_v1(method.output_type)
    pool.Add(v1)


def _in_v1(type_name: str) -> str:
    prefix = f".{_V1ALPHA_PACKAGE}."
    return (
        f".{_V1_PACKAGE}.{type_name[len(prefix) :]}" if type_name.startswith(prefix) else type_name
    )
