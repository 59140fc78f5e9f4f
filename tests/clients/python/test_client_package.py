"""The Python client as a package: its public names, its independence from the server,
its builders and retry pacing, and the metadata it sends."""

from __future__ import annotations

import asyncio
import ipaddress
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import backchannel_client
import grpc
import pytest
from backchannel_client import (
    AsyncClient,
    Client,
    RetrySettings,
    UnavailableError,
    build_feedback,
    feedback_from_dict,
    feedback_kind,
    recipient_from_dict,
)
from backchannel_client.v1 import feedback_pb2, feedback_service_pb2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support.brief_example import BRIEF_EXAMPLE


def test_the_public_api_is_exactly_these_names() -> None:
    assert backchannel_client.__all__ == [
        "DEFAULT_TARGET",
        "AbortedError",
        "AlreadyExistsError",
        "AsyncClient",
        "AsyncEventStream",
        "BackchannelError",
        "Client",
        "DeadlineExceededError",
        "Delivery",
        "EventFilter",
        "EventStream",
        "FailedPreconditionError",
        "Feedback",
        "FeedbackSentEvent",
        "FieldViolation",
        "GetFeedbackResponse",
        "InvalidArgumentError",
        "LeadReference",
        "Money",
        "NotFoundError",
        "OperatorEvent",
        "OutOfRangeError",
        "Outcome",
        "PermissionDeniedError",
        "Recipient",
        "ResourceExhaustedError",
        "RetrySettings",
        "SendFeedbackRequest",
        "SendFeedbackResponse",
        "SendResult",
        "TestRecipientResponse",
        "UnauthenticatedError",
        "UnavailableError",
        "__version__",
        "build_feedback",
        "feedback_from_dict",
        "feedback_kind",
        "new_request_id",
        "recipient_from_dict",
    ]
    for name in backchannel_client.__all__:
        assert hasattr(backchannel_client, name), name


def test_the_client_never_imports_the_server_package() -> None:
    probe = (
        "import sys, backchannel_client, backchannel_client.v1;"
        "loaded = [m for m in sys.modules if m == 'backchannel' or m.startswith('backchannel.')];"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)


def test_the_keyword_builder_makes_the_briefs_example() -> None:
    built = build_feedback(
        kind="conversion",
        lead_id="LC123456789",
        source_id="SOURCE_ABC",
        feedback_time=datetime(2024, 1, 15, 10, 30, tzinfo=UTC),
        status="converted",
        occur_time=datetime(2024, 1, 14, 15, 45, tzinfo=UTC),
        value=Decimal("1250.00"),
        currency="USD",
        product="home_insurance",
        overall_score=85,
        quality={"data_quality": 90, "conversion_likelihood": 80, "customer_satisfaction": 88},
        campaign="winter_2024",
        creative="banner_v2",
        keyword="home insurance quotes",
    )

    assert built == feedback_from_dict(BRIEF_EXAMPLE)


def test_dicts_take_proto_json_names_or_proto_field_names() -> None:
    snake = feedback_from_dict({"kind": "FEEDBACK_KIND_RETURN", "lead": {"lead_id": "L1"}})
    camel = feedback_from_dict({"kind": "FEEDBACK_KIND_RETURN", "lead": {"leadId": "L1"}})

    assert snake == camel == build_feedback(kind="return", lead_id="L1")


def test_a_dict_that_is_not_a_feedback_is_a_value_error_naming_the_field() -> None:
    with pytest.raises(ValueError, match="leadIdentifier"):
        feedback_from_dict({"lead": {"leadIdentifier": "L1"}})
    with pytest.raises(ValueError, match="recipientKind"):
        recipient_from_dict({"id": "acme", "recipientKind": "source"})


def test_feedback_kinds_are_named_short_or_long_in_any_case() -> None:
    assert feedback_kind("Conversion") == feedback_pb2.FEEDBACK_KIND_CONVERSION
    assert feedback_kind("FEEDBACK_KIND_RETURN") == feedback_pb2.FEEDBACK_KIND_RETURN
    with pytest.raises(ValueError, match="conversion, return, quality"):
        feedback_kind("sale")


def test_retry_pauses_grow_exponentially_within_their_jitter_up_to_the_cap() -> None:
    settings = RetrySettings(initial_backoff=0.1, multiplier=2, max_backoff=0.5, jitter=0.2)
    pauses = settings.backoffs()

    for expected in (0.1, 0.2, 0.4, 0.5, 0.5):
        assert expected * 0.8 <= next(pauses) <= expected * 1.2


def test_retry_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        RetrySettings(max_attempts=0)


def self_signed_certificate() -> tuple[bytes, bytes]:
    """(certificate, private key), PEM, for 127.0.0.1: its own root of trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


class _Recorder:
    """A real gRPC server answering GetFeedback with an empty feedback and recording the
    metadata each call carried (the client's side of auth, before the server has any)."""

    def __init__(self, tls: tuple[bytes, bytes] | None = None) -> None:
        self.metadata: list[dict[str, str]] = []
        self.server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        handler = grpc.method_handlers_generic_handler(
            "backchannel.v1.FeedbackService",
            {
                "GetFeedback": grpc.unary_unary_rpc_method_handler(
                    self._get_feedback,
                    request_deserializer=feedback_service_pb2.GetFeedbackRequest.FromString,
                    response_serializer=feedback_service_pb2.GetFeedbackResponse.SerializeToString,
                )
            },
        )
        self.server.add_generic_rpc_handlers([handler])
        if tls is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            credentials = grpc.ssl_server_credentials([(tls[1], tls[0])])
            self.port = self.server.add_secure_port("127.0.0.1:0", credentials)

    async def _get_feedback(
        self, request: feedback_service_pb2.GetFeedbackRequest, context: Any
    ) -> feedback_service_pb2.GetFeedbackResponse:
        self.metadata.append({k: v for k, v in context.invocation_metadata()})
        return feedback_service_pb2.GetFeedbackResponse()


@pytest.fixture
async def recorder() -> AsyncIterator[_Recorder]:
    recording = _Recorder()
    await recording.server.start()
    try:
        yield recording
    finally:
        await recording.server.stop(None)


async def test_a_token_is_sent_as_a_bearer_authorization_with_every_call(
    recorder: _Recorder,
) -> None:
    tokens: Iterator[str] = iter(["first", "second"])
    target = f"127.0.0.1:{recorder.port}"

    with Client(target, token="sync-token") as client:
        await asyncio.to_thread(client.get_feedback, "fb_1")
    async with AsyncClient(target, token=lambda: next(tokens)) as async_client:
        await async_client.get_feedback("fb_2")
        await async_client.get_feedback("fb_3")

    assert [m.get("authorization") for m in recorder.metadata] == [
        "Bearer sync-token",
        "Bearer first",
        "Bearer second",
    ]


async def test_without_a_token_no_authorization_is_sent(recorder: _Recorder) -> None:
    async with AsyncClient(f"127.0.0.1:{recorder.port}") as client:
        await client.get_feedback("fb_1")

    assert "authorization" not in recorder.metadata[0]


async def test_tls_with_given_root_certificates_reaches_a_tls_server() -> None:
    certificate, key = self_signed_certificate()
    recording = _Recorder(tls=(certificate, key))
    await recording.server.start()
    target = f"127.0.0.1:{recording.port}"
    try:
        with Client(target, root_certificates=certificate, token="t") as client:
            await asyncio.to_thread(client.get_feedback, "fb_1")
        async with AsyncClient(target, root_certificates=certificate) as async_client:
            await async_client.get_feedback("fb_2")
        async with AsyncClient(target, retry=RetrySettings.disabled()) as plaintext:
            with pytest.raises(UnavailableError):
                await plaintext.get_feedback("fb_3")
    finally:
        await recording.server.stop(None)

    assert [m.get("authorization") for m in recording.metadata] == ["Bearer t", None]
