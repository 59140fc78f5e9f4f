"""Every RPC of every Backchannel service, fuzzed: arbitrary request messages built from
the descriptors (tests/support/proto_strategies.py: every field, hostile values) sent to a
real server on a real database holding a recipient, a feedback, its delivery and an
event. No answer is INTERNAL or UNKNOWN, and an INVALID_ARGUMENT changed no row of any
table. Bounded: a fixed number of examples per method and a time limit for the module.

The server delivers nothing (dispatcher off), so only the calls change the database, and
reaches no address but public ones (nothing allowlisted): a fuzzed recipient that passes
every check is probed only where the sandbox has no route to.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
from backchannel_client.v1 import (
    delivery_service_pb2,
    feedback_service_pb2,
    recipient_service_pb2,
)
from google.protobuf.descriptor import MethodDescriptor
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.database_rows import table_fingerprints
from support.feedback_calls import send_feedback, wait_for_event
from support.in_process_server import RunningServer, serving
from support.postgres_cluster import PostgresCluster
from support.proto_strategies import RequestStrategies
from support.receiver import WebhookReceiver
from support.scratch_database import scratch_database
from support.webhook_recipients import create_webhook_recipient

METHODS: list[MethodDescriptor] = [
    method
    for module, name in (
        (feedback_service_pb2, "FeedbackService"),
        (recipient_service_pb2, "RecipientService"),
        (delivery_service_pb2, "DeliveryService"),
    )
    for method in module.DESCRIPTOR.services_by_name[name].methods
]
#: Entries that make a list "many" (past the server's cap of 1000).
MANY = 1001
EXAMPLES_PER_METHOD = 40
CALL_TIMEOUT = 20.0
NEVER = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})


@dataclass
class FuzzTarget:
    running: RunningServer
    database: asyncpg.Connection
    strategies: RequestStrategies


@pytest.fixture(scope="module")
async def fuzz_target(postgres: PostgresCluster, signing_secret: str) -> AsyncIterator[FuzzTarget]:
    async with scratch_database(postgres, "fuzz") as database_url:
        receiver = WebhookReceiver()
        await receiver.start()
        try:
            async with serving(database_url) as seeding:
                await create_webhook_recipient(seeding, "acme", receiver.url, signing_secret)
                sent = await send_feedback(seeding, "fuzz-seed", ["acme"])
                event = await wait_for_event(seeding, sent.feedback.id)
        finally:
            await receiver.stop()
        vocabulary = [
            "acme",
            "other-recipient",
            "fuzz-seed",
            sent.feedback.id,
            sent.deliveries[0].id,
            event.cursor,
            "webhook",
            "json",
            "template",
            "url",
            "display_name",
            "transport_settings",
            "secret_settings",
            'recipient_id = "acme"',
            'lead_id = "LC123456789" AND start_time >= "2024-01-01T00:00:00Z"',
            "http://127.0.0.1:9/hook",
        ]
        async with serving(
            database_url, dispatcher_enabled=False, outbound_allow_networks=()
        ) as running:
            database = await asyncpg.connect(database_url)
            try:
                yield FuzzTarget(running, database, RequestStrategies(vocabulary, MANY))
            finally:
                await database.close()


async def _call(
    channel: grpc.aio.Channel, method: MethodDescriptor, request: bytes
) -> grpc.StatusCode:
    """The status one call ends with; a stream that yields its first item counts as OK."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    try:
        if method.server_streaming:
            call = channel.unary_stream(path)(request, timeout=CALL_TIMEOUT)
            try:
                await call.read()
            finally:
                call.cancel()
        else:
            await channel.unary_unary(path)(request, timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@pytest.mark.timeout(900)
@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
@settings(
    max_examples=EXAMPLES_PER_METHOD,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(data=st.data())
async def test_no_request_is_answered_internal_and_an_invalid_one_changes_nothing(
    fuzz_target: FuzzTarget, method: MethodDescriptor, data: st.DataObject
) -> None:
    request = data.draw(fuzz_target.strategies.message(method.input_type), label="request")
    before = await table_fingerprints(fuzz_target.database)

    code = await _call(fuzz_target.running.channel, method, request.SerializeToString())
    event(code.name)  # --hypothesis-show-statistics shows what the examples were answered

    assert code not in NEVER, f"{method.name} answered {code.name}"
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        # A stream's call may still be settling on the server: let its task finish.
        await asyncio.sleep(0)
        assert await table_fingerprints(fuzz_target.database) == before
