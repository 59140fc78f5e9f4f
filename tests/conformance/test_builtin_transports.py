"""The four built-in transports pass the same conformance suite as any outside transport,
each against the real server its own tests use: aiohttp, aiosmtpd, OpenSSH sshd and an
HTTPS Workflows stand-in."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from support.sftp_server import SshServer
from support.smtp_server import PASSWORD, USERNAME, Certificates, SmtpServer, running_smtp_server
from support.teams_receiver import Certificate, WorkflowsReceiver, self_signed_certificate

from backchannel.plugin import OutboundMessage, Transport
from backchannel.testing import (
    Arrival,
    ReceivedPayloads,
    TransportConformance,
    installed_transport,
    loopback_context,
    unused_port,
)


async def started(name: str) -> Transport[Any]:
    transport = installed_transport(name)
    await transport.start(loopback_context(connect_timeout=5.0, total_timeout=30.0))
    return transport


def as_text(body: bytes) -> bytes:
    """A JSON body with its non-ASCII characters unescaped, to look for text in it."""
    return json.dumps(json.loads(body), ensure_ascii=False).encode()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA and a server certificate for the SMTP server."""
    return Certificates.create(tmp_path_factory.mktemp("smtp-certificates"))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """The Workflows stand-in's self-signed certificate."""
    return self_signed_certificate(tmp_path_factory.mktemp("workflows-tls"))


# --- webhook -----------------------------------------------------------------------------

SIGNING_SECRET = "whsec_" + base64.b64encode(bytes(range(40, 72))).decode()


class TestWebhookConformance(TransportConformance):
    distribution = "backchannel-webhook"

    @pytest.fixture
    async def transport(self) -> AsyncIterator[Transport[Any]]:
        transport = await started("webhook")
        yield transport
        await transport.aclose()

    @pytest.fixture
    async def endpoint(self) -> AsyncIterator[tuple[str, list[Arrival]]]:
        arrivals: list[Arrival] = []

        async def record(request: web.Request) -> web.Response:
            body = await request.read()
            arrivals.append(Arrival(body, request.headers.get("webhook-id"), transmitted=body))
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hooks", record)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}/hooks", arrivals
        await runner.cleanup()

    @pytest.fixture
    def working_settings(self) -> dict[str, Any]:
        return {}

    @pytest.fixture
    def working_secrets(self, endpoint: tuple[str, list[Arrival]]) -> dict[str, Any]:
        return {"url": f"{endpoint[0]}?token=tok-8d1f22c4", "signing_secrets": SIGNING_SECRET}

    @pytest.fixture
    def broken_settings(self) -> dict[str, Any]:
        return {}

    @pytest.fixture
    def broken_secrets(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{unused_port()}/hooks?token=tok-8d1f22c4"
        return {"url": url, "signing_secrets": SIGNING_SECRET}

    @pytest.fixture
    def received_payloads(self, endpoint: tuple[str, list[Arrival]]) -> ReceivedPayloads:
        return lambda: list(endpoint[1])


# --- email -------------------------------------------------------------------------------


class TestEmailConformance(TransportConformance):
    distribution = "backchannel-email"

    @pytest.fixture
    def smtp_server(self, certificates: Certificates) -> Iterator[SmtpServer]:
        with running_smtp_server(certificates, tls="starttls") as server:
            yield server

    @pytest.fixture
    async def transport(self) -> AsyncIterator[Transport[Any]]:
        transport = await started("email")
        yield transport
        await transport.aclose()

    def settings_for(self, port: int, certificates: Certificates) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": port,
            "tls": "starttls",
            "ca_certificate": certificates.ca_pem,
            "username": USERNAME,
            "from_address": "Backchannel <feedback@example.com>",
            "to": ["partner@example.com"],
        }

    @pytest.fixture
    def working_settings(
        self, smtp_server: SmtpServer, certificates: Certificates
    ) -> dict[str, Any]:
        return self.settings_for(smtp_server.port, certificates)

    @pytest.fixture
    def working_secrets(self) -> dict[str, Any]:
        return {"password": PASSWORD}

    @pytest.fixture
    def broken_settings(self, certificates: Certificates) -> dict[str, Any]:
        return self.settings_for(unused_port(), certificates)

    @pytest.fixture
    def received_payloads(self, smtp_server: SmtpServer) -> ReceivedPayloads:
        def attachments() -> list[Arrival]:
            arrivals = []
            for received in list(smtp_server.handler.messages):
                for part in received.message.iter_attachments():
                    payload = part.get_payload(decode=True)
                    assert isinstance(payload, bytes)
                    arrivals.append(
                        Arrival(payload, received.message["Message-ID"], transmitted=received.raw)
                    )
            return arrivals

        return attachments


# --- sftp --------------------------------------------------------------------------------


class TestSftpConformance(TransportConformance):
    distribution = "backchannel-sftp"

    @pytest.fixture
    async def transport(self) -> AsyncIterator[Transport[Any]]:
        transport = await started("sftp")
        yield transport
        await transport.aclose()

    @pytest.fixture
    def working_settings(self, sshd: SshServer, remote_dir: Path) -> dict[str, Any]:
        return {
            "host": sshd.host,
            "port": sshd.port,
            "username": sshd.account.username,
            "directory": str(remote_dir),
            "known_hosts": sshd.known_hosts_line(),
            "connect_timeout_seconds": 10,
        }

    @pytest.fixture
    def working_secrets(self, sshd: SshServer) -> dict[str, Any]:
        return {"password": sshd.account.password}

    @pytest.fixture
    def broken_settings(
        self, sshd: SshServer, working_settings: Mapping[str, Any]
    ) -> dict[str, Any]:
        port = unused_port()
        known_hosts = f"[{sshd.host}]:{port} {sshd.host_public_key}"
        return {**working_settings, "port": port, "known_hosts": known_hosts}

    @pytest.fixture
    def received_payloads(self, remote_dir: Path) -> ReceivedPayloads:
        def files() -> list[Arrival]:
            return [
                Arrival(data, str(path.relative_to(remote_dir)), transmitted=data)
                for path in sorted(remote_dir.rglob("*"))
                if path.is_file()
                for data in [path.read_bytes()]
            ]

        return files


# --- teams -------------------------------------------------------------------------------


class TestTeamsConformance(TransportConformance):
    distribution = "backchannel-teams"

    def expected_fragments(self, message: OutboundMessage) -> Sequence[bytes]:
        # The card summarises the document; the rendered content is not sent.
        document = message.document
        return [document.get(key, "").encode() for key in ("lead_id", "source_id")]

    @pytest.fixture
    async def workflows(self, certificate: Certificate) -> AsyncIterator[WorkflowsReceiver]:
        receiver = WorkflowsReceiver(certificate)
        await receiver.start()
        yield receiver
        await receiver.stop()

    @pytest.fixture
    async def transport(self) -> AsyncIterator[Transport[Any]]:
        transport = await started("teams")
        yield transport
        await transport.aclose()

    @pytest.fixture
    def working_settings(self, certificate: Certificate) -> dict[str, Any]:
        return {"ca_certificate": certificate.pem}

    @pytest.fixture
    def working_secrets(self, workflows: WorkflowsReceiver) -> dict[str, Any]:
        return {"url": workflows.url()}

    @pytest.fixture
    def broken_settings(self, certificate: Certificate) -> dict[str, Any]:
        return {"ca_certificate": certificate.pem}

    @pytest.fixture
    def broken_secrets(self, workflows: WorkflowsReceiver) -> dict[str, Any]:
        return {"url": workflows.url().replace(f":{workflows.port}/", f":{unused_port()}/")}

    @pytest.fixture
    def received_payloads(self, workflows: WorkflowsReceiver) -> ReceivedPayloads:
        return lambda: [
            Arrival(as_text(arrival.body), transmitted=arrival.body)
            for arrival in workflows.arrivals
            if arrival.status < 300
        ]
