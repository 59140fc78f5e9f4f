"""Client and AsyncClient against a real Backchannel that requires TLS and a client
certificate signed by its CA (certificates made in the test): served with the CA bundle and
the client certificate and otherwise default options; refused without a certificate or
with a forged one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backchannel_client import AsyncClient, Client, RetrySettings, UnavailableError
from support.brief_example import BRIEF_EXAMPLE
from support.certificates import TlsFiles, write_tls_files
from support.in_process_server import RunningServer, serving
from support.receiver import WebhookReceiver
from support.tls_connections import tls_server_settings
from support.webhook_recipients import webhook_recipient


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return write_tls_files(tmp_path)


@pytest.fixture
async def mtls_backchannel(database_url: str, tls_files: TlsFiles) -> AsyncIterator[RunningServer]:
    async with serving(database_url, **tls_server_settings(tls_files)) as running:
        yield running


def mtls_options(files: TlsFiles) -> dict[str, bytes]:
    return {
        "root_certificates": files.ca.read_bytes(),
        "certificate_chain": files.client_certificate.read_bytes(),
        "private_key": files.client_key.read_bytes(),
    }


async def test_the_sync_client_with_a_client_certificate_sends_and_follows(
    mtls_backchannel: RunningServer,
    tls_files: TlsFiles,
    receiver: WebhookReceiver,
    signing_secret: str,
) -> None:
    with Client(mtls_backchannel.address, **mtls_options(tls_files)) as client:
        await asyncio.to_thread(
            client.create_recipient, webhook_recipient("acme", receiver.url, signing_secret)
        )
        answer = await asyncio.to_thread(client.send_feedback, BRIEF_EXAMPLE, ["acme"])

        def first_event() -> str:
            with client.follow_events(from_beginning=True) as events:
                return next(iter(events)).feedback_id

        followed = await asyncio.wait_for(asyncio.to_thread(first_event), 30)

    assert followed == answer.feedback.id


async def test_the_async_client_with_a_client_certificate_sends_and_reads_back(
    mtls_backchannel: RunningServer, tls_files: TlsFiles
) -> None:
    async with AsyncClient(mtls_backchannel.address, **mtls_options(tls_files)) as client:
        answer = await client.send_feedback(BRIEF_EXAMPLE)
        stored = await client.get_feedback(answer.feedback.id)

    assert stored.feedback == answer.feedback


@pytest.mark.parametrize("client_certificate", ["none", "forged"])
async def test_without_a_certificate_of_the_ca_both_clients_are_refused(
    mtls_backchannel: RunningServer, tls_files: TlsFiles, client_certificate: str
) -> None:
    options: dict[str, bytes] = {"root_certificates": tls_files.ca.read_bytes()}
    if client_certificate == "forged":
        options["certificate_chain"] = tls_files.forged_certificate.read_bytes()
        options["private_key"] = tls_files.forged_key.read_bytes()
    once = RetrySettings.disabled()

    async with AsyncClient(mtls_backchannel.address, retry=once, **options) as client:
        with pytest.raises(UnavailableError):
            await client.get_feedback("fb_1")
    with (
        Client(mtls_backchannel.address, retry=once, **options) as sync_client,
        pytest.raises(UnavailableError),
    ):
        await asyncio.to_thread(sync_client.get_feedback, "fb_1")


def test_half_a_client_certificate_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="needs both certificate_chain and private_key"):
        Client("127.0.0.1:1", certificate_chain=b"-----BEGIN CERTIFICATE-----")
