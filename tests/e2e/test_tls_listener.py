"""The gRPC listener with TLS, over real handshakes: certificates made in the test, client
certificates required (mTLS) and refused when missing or forged, the certificate files
rotated while a stream is open, and a reload that fails keeping what works."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc
import pytest
from backchannel_client.v1 import (
    event_pb2,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
    recipient_service_pb2,
)
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.brief_example import brief_example_feedback
from support.certificates import CertificateAuthority, TlsFiles, write_file, write_tls_files
from support.feedback_calls import send_feedback
from support.in_process_server import RunningServer, serving
from support.polling import eventually
from support.receiver import WebhookReceiver
from support.tls_connections import (
    ClientCertificate,
    channel_credentials,
    presented_certificate,
    tls_server_settings,
)
from support.webhook_recipients import create_webhook_recipient


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return write_tls_files(tmp_path)


async def health_over(
    running: RunningServer, credentials: grpc.ChannelCredentials | None
) -> health_pb2.HealthCheckResponse:
    """A health check on a new connection made with ``credentials`` (None: plaintext)."""
    address = running.address
    async with (
        grpc.aio.insecure_channel(address)
        if credentials is None
        else grpc.aio.secure_channel(address, credentials)
    ) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answer: health_pb2.HealthCheckResponse = await stub.Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        return answer


async def test_a_client_with_a_certificate_from_the_ca_is_served(
    database_url: str, tls_files: TlsFiles
) -> None:
    async with serving(
        database_url,
        credentials=channel_credentials(tls_files),
        **tls_server_settings(tls_files),
    ) as running:
        listed = await running.recipients.ListRecipients(
            recipient_service_pb2.ListRecipientsRequest()
        )
        answer = await health_over(running, channel_credentials(tls_files))

    assert list(listed.recipients) == []
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert running.server.security == "TLS, client certificates required"


@pytest.mark.parametrize("client", ["none", "forged"])
async def test_a_client_without_a_certificate_of_the_ca_is_refused_at_the_handshake(
    database_url: str, tls_files: TlsFiles, client: ClientCertificate
) -> None:
    async with serving(database_url, **tls_server_settings(tls_files)) as running:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_over(running, channel_credentials(tls_files, client))
        served = await health_over(running, channel_credentials(tls_files))

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert served.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_plaintext_client_is_refused_by_a_tls_listener(
    database_url: str, tls_files: TlsFiles
) -> None:
    async with serving(database_url, **tls_server_settings(tls_files)) as running:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_over(running, None)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_without_a_client_ca_any_tls_client_is_served_and_none_is_asked_for(
    database_url: str, tls_files: TlsFiles
) -> None:
    settings = tls_server_settings(tls_files, tls_client_ca_file="")
    async with serving(database_url, **settings) as running:
        without = await health_over(running, channel_credentials(tls_files, "none"))

    assert without.status == health_pb2.HealthCheckResponse.SERVING
    assert running.server.security == "TLS, no client certificates"


async def test_rotated_files_reach_new_connections_while_an_open_stream_keeps_going(
    database_url: str,
    tls_files: TlsFiles,
    receiver: WebhookReceiver,
    signing_secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="backchannel.api.listener_tls")
    async with serving(
        database_url,
        credentials=channel_credentials(tls_files),
        **tls_server_settings(tls_files, tls_reload_check_seconds=0.2),
    ) as running:
        tls = running.server.tls
        assert tls is not None
        await create_webhook_recipient(running, "acme", receiver.url, signing_secret)
        # The stream opens on a connection made with the first certificate.
        stream = running.feedback.StreamFeedbackEvents(
            feedback_service_pb2.StreamFeedbackEventsRequest(
                filter=feedback_service_pb2.EventFilter(recipient_ids=["acme"])
            )
        )
        before = await send_feedback(running, "before-rotation", ["acme"])
        first = await next_event(stream)
        shown_before = await presented_certificate(running.server.port, tls_files)

        # Another CA's server certificate replaces the files, key first, as a tool
        # renaming files one by one would (the watcher may see a mismatched pair first).
        rotated_ca = CertificateAuthority("Backchannel rotated CA")
        rotated = rotated_ca.server_certificate()
        write_file(tls_files.server_key, rotated.key)
        write_file(tls_files.server_certificate, rotated.certificate)
        shown_after = await eventually(
            lambda: certificate_shown(running, tls_files, rotated.serial_number), timeout=20
        )

        # A new connection trusting only the new CA is served, and what it sends reaches
        # the stream opened before the rotation, still on its old connection.
        async with grpc.aio.secure_channel(
            running.address, channel_credentials(tls_files, trust=rotated_ca.certificate)
        ) as channel:
            after = await feedback_service_pb2_grpc.FeedbackServiceStub(channel).SendFeedback(
                feedback_service_pb2.SendFeedbackRequest(
                    request_id="after-rotation",
                    feedback=brief_example_feedback(),
                    recipient_ids=["acme"],
                ),
                timeout=10,
            )
        second = await next_event(stream)
        stream.cancel()

    assert shown_before.serial_number != rotated.serial_number
    assert shown_after.serial_number == rotated.serial_number
    assert (first.feedback_id, second.feedback_id) == (before.feedback.id, after.feedback.id)
    assert tls.reloads >= 1
    assert "TLS reloaded (the files changed)" in caplog.text
    assert rotated.key.decode() not in caplog.text


async def test_a_reload_that_fails_keeps_the_certificate_in_use_and_says_why(
    database_url: str, tls_files: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="backchannel.api.listener_tls")
    async with serving(database_url, **tls_server_settings(tls_files)) as running:
        shown_before = await presented_certificate(running.server.port, tls_files)
        # A key from elsewhere: it does not belong to the certificate in the file.
        stray_key = CertificateAuthority().server_certificate().key
        write_file(tls_files.server_key, stray_key)
        reloaded = running.server.reload_tls("SIGHUP")
        shown_after = await presented_certificate(running.server.port, tls_files)
        served = await health_over(running, channel_credentials(tls_files))

    assert reloaded is False
    assert shown_after.serial_number == shown_before.serial_number
    assert served.status == health_pb2.HealthCheckResponse.SERVING
    assert "TLS reload (SIGHUP) failed; keeping the certificate in use" in caplog.text
    assert "the key does not belong to the first certificate" in caplog.text
    assert stray_key.decode() not in caplog.text


async def next_event(
    stream: grpc.aio.UnaryStreamCall[
        feedback_service_pb2.StreamFeedbackEventsRequest,
        feedback_service_pb2.StreamFeedbackEventsResponse,
    ],
) -> event_pb2.FeedbackSentEvent:
    """The next feedback-sent event on ``stream`` (heartbeats skipped), within 30 s."""

    async def read() -> event_pb2.FeedbackSentEvent:
        while True:
            message = await stream.read()
            assert message is not grpc.aio.EOF, "the stream ended"
            if message.HasField("event"):
                return message.event

    return await asyncio.wait_for(read(), 30)


async def certificate_shown(
    running: RunningServer, files: TlsFiles, serial: int
) -> x509.Certificate | None:
    """The certificate a new connection is shown, when it is the one with ``serial``."""
    shown = await presented_certificate(running.server.port, files)
    return shown if shown.serial_number == serial else None
