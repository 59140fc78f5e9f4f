"""Whatever a caller puts in the requests of TokenService and AuditService (NUL and other
odd text, out-of-range times and durations, negative or huge page sizes, forged page
tokens, filters of any shape), the answer is a correct one or INVALID_ARGUMENT (NOT_FOUND
for a token that is not there), never INTERNAL or UNKNOWN. A real server and Postgres;
authentication off, so every request reaches its handler."""

from __future__ import annotations

import grpc
import pytest
from backchannel_client.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    feedback_service_pb2,
    token_service_pb2,
    token_service_pb2_grpc,
)
from google.protobuf import duration_pb2, timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.in_process_server import RunningServer

from backchannel.model import Scope

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
odd_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(["\x00", "a", "é", "💥", "\n", '"', "\\"]), max_size=20),
    st.sampled_from(["", " ", "x" * 2000, "tok_" + "0" * 26, "bck_" + "A" * 43]),
)
scope_names = st.one_of(st.sampled_from([s.value for s in Scope]), odd_text)
timestamps = st.builds(
    timestamp_pb2.Timestamp,
    seconds=st.one_of(INT64, st.integers(-(10**11), 10**11)),
    nanos=st.one_of(INT32, st.integers(0, 10**9)),
)
durations = st.builds(
    duration_pb2.Duration,
    seconds=st.one_of(INT64, st.integers(-(10**9), 10**9)),
    nanos=st.one_of(INT32, st.integers(-(10**9), 10**9)),
)


@st.composite
def create_requests(draw: st.DrawFn) -> token_service_pb2.CreateTokenRequest:
    request = token_service_pb2.CreateTokenRequest(
        name=draw(odd_text),
        scopes=draw(st.lists(scope_names, max_size=4)),
        source_ids=draw(st.lists(odd_text, max_size=3)),
        recipient_ids=draw(st.lists(st.one_of(odd_text, st.just("acme")), max_size=3)),
    )
    expiration = draw(st.sampled_from(["none", "expire_time", "ttl"]))
    if expiration == "expire_time":
        request.expire_time.CopyFrom(draw(timestamps))
    elif expiration == "ttl":
        request.ttl.CopyFrom(draw(durations))
    return request


filter_fields = st.sampled_from(["actor", "action", "target", "create_time", "lead_id", "("])
filter_operators = st.sampled_from(["=", "<", "<=", ">", ">=", "!=", ""])
filter_values = st.one_of(
    st.sampled_from(
        [
            '"admin"',
            "admin",
            '"2024-01-01T00:00:00Z"',
            '"2024-01-01T00:00:00"',
            '"0001-01-01T00:00:00+14:00"',  # before year 1 in UTC
            '"9999-12-31T23:59:59-14:00"',  # after year 9999 in UTC
            '"yesterday"',
            '"\\"',
            '"',
        ]
    ),
    odd_text.map(lambda text: '"' + text.replace('"', "") + '"'),
)
comparisons = st.tuples(filter_fields, filter_operators, filter_values).map(" ".join)
filters = st.one_of(
    odd_text,
    st.lists(comparisons, max_size=4).map(" AND ".join),
    st.lists(comparisons, min_size=2, max_size=3).map(" OR ".join),
)
ANSWERED = (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


async def code_of(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        assert error.code() in ANSWERED, f"{error.code()}: {error.details()}"
        return error.code()
    return grpc.StatusCode.OK


@FUZZ
@given(request=create_requests())
async def test_create_token_answers_or_refuses_bad_input(
    backchannel: RunningServer, request: token_service_pb2.CreateTokenRequest
) -> None:
    stub = token_service_pb2_grpc.TokenServiceStub(backchannel.channel)
    await code_of(stub.CreateToken(request))


@FUZZ
@given(
    request=st.builds(
        token_service_pb2.ListTokensRequest,
        page_size=INT32,
        page_token=odd_text,
        show_revoked=st.booleans(),
    )
)
async def test_list_tokens_answers_or_refuses_bad_input(
    backchannel: RunningServer, request: token_service_pb2.ListTokensRequest
) -> None:
    stub = token_service_pb2_grpc.TokenServiceStub(backchannel.channel)
    await code_of(stub.ListTokens(request))


@FUZZ
@given(token_id=odd_text)
async def test_revoke_token_answers_or_refuses_bad_input(
    backchannel: RunningServer, token_id: str
) -> None:
    stub = token_service_pb2_grpc.TokenServiceStub(backchannel.channel)
    await code_of(stub.RevokeToken(token_service_pb2.RevokeTokenRequest(token_id=token_id)))


@FUZZ
@given(
    request=st.builds(
        audit_service_pb2.ListAuditRecordsRequest,
        filter=filters,
        page_size=INT32,
        page_token=st.one_of(odd_text, st.just("eyJwIjogWzEsIDBdLCAiZiI6ICJ4In0")),
    )
)
async def test_list_audit_records_answers_or_refuses_bad_input(
    backchannel: RunningServer, request: audit_service_pb2.ListAuditRecordsRequest
) -> None:
    stub = audit_service_pb2_grpc.AuditServiceStub(backchannel.channel)
    await code_of(stub.ListAuditRecords(request))


async def test_the_fuzzed_calls_reach_their_handlers(backchannel: RunningServer) -> None:
    """The properties above would hold vacuously if every request were refused early."""
    tokens = token_service_pb2_grpc.TokenServiceStub(backchannel.channel)
    made = await tokens.CreateToken(
        token_service_pb2.CreateTokenRequest(name="x", scopes=["feedback:read"])
    )
    listed = await audit_service_pb2_grpc.AuditServiceStub(backchannel.channel).ListAuditRecords(
        audit_service_pb2.ListAuditRecordsRequest(filter='action = "token.create"')
    )

    assert [r.target for r in listed.records] == [f"tokens/{made.token.id}"]
    assert listed.records[0].actor == "anonymous"


@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"],
    ids=["before-year-1-in-utc", "after-year-9999-in-utc"],
)
async def test_a_filter_time_beyond_what_postgres_stores_is_invalid_argument(
    backchannel: RunningServer, moment: str
) -> None:
    """Regression: such a time parsed, then overflowed when sent to Postgres (INTERNAL),
    in the audit filter and in ListFeedbackEvents' filter, which share the parser."""
    audit = audit_service_pb2_grpc.AuditServiceStub(backchannel.channel)
    events = backchannel.feedback

    for call in (
        audit.ListAuditRecords(
            audit_service_pb2.ListAuditRecordsRequest(filter=f'create_time >= "{moment}"')
        ),
        events.ListFeedbackEvents(
            feedback_service_pb2.ListFeedbackEventsRequest(filter=f'start_time < "{moment}"')
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
