"""A local HTTPS stand-in for a Power Automate Workflows "When a Teams webhook request is
received" trigger, and the self-signed certificate it serves.

Like the real trigger it answers 202 with an empty body when the request is a message with an
Adaptive Card attachment, 400 when it is not, 413 above Teams' size limit and 429 with
Retry-After when told to throttle. It records every request with its arrival time.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
#: Teams refuses messages above about 28 KB.
MAX_BODY_BYTES = 28 * 1024
WORKFLOW_ID = "5f0d1b6a2c3e4d5f8a9b0c1d2e3f4a5b"
#: A signature in the shape Workflows uses (base64url of an HMAC): the URL's credential.
SIGNATURE = "Xq3vN8-kPz0wR5tY7uI9oL2mB4nC6dE1fG3hJ5kL7zA"


@dataclass(frozen=True)
class Certificate:
    pem: str
    cert_file: Path
    key_file: Path


def self_signed_certificate(folder: Path) -> Certificate:
    """A certificate for 127.0.0.1 and localhost, signed by its own key, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Backchannel test Workflows")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    cert_file, key_file = folder / "workflows.crt", folder / "workflows.key"
    cert_file.write_text(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(pem, cert_file, key_file)


@dataclass
class Arrival:
    #: ``time.monotonic()`` when the request arrived.
    at: float
    #: The path and query exactly as they came over the wire.
    raw_path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class WorkflowsReceiver:
    certificate: Certificate
    port: int = 0
    arrivals: list[Arrival] = field(default_factory=list)
    #: Answer this many of the next requests with 429.
    throttle: int = 0
    retry_after: str = "7"
    #: Answer every request with this status (and a Workflows-style error body) instead.
    status: int | None = None
    #: Answer 400 with an error body that repeats the request's URL, as a careless remote might.
    echo_url: bool = False
    _runner: web.AppRunner | None = None

    def url(self, signature: str = SIGNATURE, host: str = "127.0.0.1") -> str:
        return (
            f"https://{host}:{self.port}/workflows/{WORKFLOW_ID}/triggers/manual/paths/invoke"
            f"?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={signature}"
        )

    def accepted_cards(self) -> list[dict[str, Any]]:
        """The Adaptive Card of every request answered 202."""
        return [
            json.loads(arrival.body)["attachments"][0]["content"]
            for arrival in self.arrivals
            if arrival.status == 202
        ]

    async def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate.cert_file, self.certificate.key_file)
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        body = await request.read()
        response = self._answer(request, body)
        self.arrivals.append(
            Arrival(at, request.raw_path, dict(request.headers), body, response.status)
        )
        return response

    def _answer(self, request: web.Request, body: bytes) -> web.Response:
        if self.echo_url:
            return _error(400, "InvalidRequest", f"cannot run {request.url}")
        if self.status is not None:
            return _error(self.status, "WorkflowError", f"answered {self.status} as told")
        if self.throttle > 0:
            self.throttle -= 1
            return _error(
                429,
                "WorkflowTriggerIsThrottled",
                "The workflow trigger is throttled.",
                {"Retry-After": self.retry_after},
            )
        if request.method != "POST":
            return _error(405, "MethodNotAllowed", "only POST is accepted")
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "MessageTooLarge", f"the body has {len(body)} bytes")
        problem = card_message_problem(body)
        if problem is not None:
            return _error(400, "InvalidTemplate", problem)
        return web.Response(status=202, headers={"x-ms-workflow-run-id": "08584712345RUN01"})


def card_message_problem(body: bytes) -> str | None:
    """Why ``body`` is not a message with an Adaptive Card attachment, or None."""
    try:
        message = json.loads(body)
    except ValueError:
        return "the body is not JSON"
    if not isinstance(message, dict) or message.get("type") != "message":
        return 'the body is not a "message"'
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "the message has no attachments"
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("contentType") != CARD_CONTENT_TYPE:
            return "an attachment is not an Adaptive Card"
        card = attachment.get("content")
        if (
            not isinstance(card, dict)
            or card.get("type") != "AdaptiveCard"
            or not isinstance(card.get("version"), str)
            or not isinstance(card.get("body"), list)
        ):
            return "an attachment's content is not an AdaptiveCard with a version and a body"
    return None


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )
