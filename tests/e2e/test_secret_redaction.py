"""Whatever a recipient echoes back, no secret of it is recorded or answered: the host masks
every secret setting, in every spelling a remote may send it back in, before an event is
stored and before TestRecipient answers, whichever transport made the text."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest
from aiohttp import web
from backchannel_client.v1 import feedback_service_pb2, recipient_pb2, recipient_service_pb2
from google.protobuf import struct_pb2
from support.brief_example import brief_example_feedback
from support.feedback_calls import wait_for_event
from support.in_process_server import RunningServer
from support.smtp_server import PASSWORD, USERNAME, Certificates, SmtpServer, running_smtp_server
from support.teams_receiver import Certificate, WorkflowsReceiver, self_signed_certificate

USER = "bc-user"
PASSWORD_IN_URL = "pa55word-xyz"
#: A query value with a character that is percent-encoded in the URL (``/``).
TOKEN = "tok_8f3a9c2e%2F51d0e7"
#: What a receiver may put in its answer, chosen per recipient by an ``X-Echo`` header.
ECHOES = ("authorization", "url", "quoted-url", "query")


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def spellings(*secrets: str) -> list[str]:
    """Each secret as given, percent-decoded and percent-encoded."""
    found: list[str] = []
    for secret in secrets:
        found += [secret, unquote(secret), quote(secret, safe=""), quote(unquote(secret), safe="")]
    return found


def webhook_secret_spellings() -> list[str]:
    credentials = f"{USER}:{PASSWORD_IN_URL}"
    encoded = base64.b64encode(credentials.encode()).decode()
    return [*spellings(PASSWORD_IN_URL, credentials, TOKEN), encoded]


class EchoingReceiver:
    """An HTTP endpoint that refuses every request (400) with an answer that repeats the part
    of the request its ``X-Echo`` header names: what a careless remote does."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def secret_url(self) -> str:
        return f"http://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{self.port}/hook?token={TOKEN}"

    async def _handle(self, request: web.Request) -> web.Response:
        echo = request.headers.get("X-Echo", "")
        if echo == "authorization":
            answer = f"bad credentials: {request.headers.get('Authorization')}"
        elif echo == "url":
            answer = f"cannot post to {request.url}"
        elif echo == "quoted-url":
            answer = f"see /help?from={quote(str(request.url), safe='')}"
        else:
            answer = f"unknown token {request.query.get('token')} ({request.query_string})"
        self.answers.append(answer)
        return web.Response(status=400, text=answer)


@pytest.fixture
async def echoing() -> AsyncIterator[EchoingReceiver]:
    receiver = EchoingReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


async def create(running: RunningServer, recipient: recipient_pb2.Recipient) -> None:
    await running.recipients.CreateRecipient(
        recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
    )


async def recorded_and_tested_texts(running: RunningServer, recipient_id: str) -> list[str]:
    """The excerpt of the event recorded for one delivery (as GetFeedback and
    ListFeedbackEvents show it), the details on the event, and the serialized answer of
    TestRecipient."""
    sent = await running.feedback.SendFeedback(
        feedback_service_pb2.SendFeedbackRequest(
            request_id=f"req-{recipient_id}",
            feedback=brief_example_feedback(),
            recipient_ids=[recipient_id],
        )
    )
    event = await wait_for_event(running, sent.feedback.id)
    listed = await running.feedback.ListFeedbackEvents(
        feedback_service_pb2.ListFeedbackEventsRequest()
    )
    tested = await running.recipients.TestRecipient(
        recipient_service_pb2.TestRecipientRequest(recipient_id=recipient_id)
    )
    assert not tested.passed
    return [
        event.response_status.excerpt,
        event.response_status.remote_id,
        *(e.response_status.excerpt for e in listed.events),
        *(f"{key}={value}" for e in listed.events for key, value in e.details.items()),
        tested.SerializeToString().decode("utf-8", errors="replace"),
    ]


def leaked(texts: list[str], secrets: list[str]) -> list[str]:
    joined = "\n".join(texts)
    return sorted({secret for secret in secrets if secret in joined})


@pytest.mark.parametrize("echo", ECHOES)
async def test_a_webhook_receiver_echoing_its_secret_url_leaks_no_spelling_of_it(
    backchannel: RunningServer, echoing: EchoingReceiver, echo: str
) -> None:
    await create(
        backchannel,
        recipient_pb2.Recipient(
            id="echo",
            recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
            transport="webhook",
            transport_settings=struct({"headers": {"X-Echo": echo}}),
            secret_settings=struct({"url": echoing.secret_url()}),
        ),
    )

    texts = await recorded_and_tested_texts(backchannel, "echo")

    secrets = webhook_secret_spellings()
    assert leaked(echoing.answers, secrets), "the receiver should have echoed a secret"
    assert leaked(texts, secrets) == []
    assert "400" in texts[-1]


# --- teams ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflows_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed_certificate(tmp_path_factory.mktemp("workflows-tls"))


async def test_a_workflows_endpoint_echoing_its_url_leaks_no_part_of_it(
    backchannel: RunningServer, workflows_certificate: Certificate
) -> None:
    workflows = WorkflowsReceiver(workflows_certificate, echo_url=True)
    await workflows.start()
    try:
        url = workflows.url(signature="sIg0123456789abcdefXYZ%2B%2Fqq")
        await create(
            backchannel,
            recipient_pb2.Recipient(
                id="teams-echo",
                recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
                transport="teams",
                transport_settings=struct({"ca_certificate": workflows_certificate.pem}),
                secret_settings=struct({"url": url}),
            ),
        )
        texts = await recorded_and_tested_texts(backchannel, "teams-echo")
    finally:
        await workflows.stop()

    secrets = spellings("sIg0123456789abcdefXYZ%2B%2Fqq", url)
    assert leaked(texts, secrets) == []


# --- email ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smtp_certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates.create(tmp_path_factory.mktemp("smtp-certificates"))


@pytest.fixture
def echoing_smtp(smtp_certificates: Certificates) -> Iterator[SmtpServer]:
    with running_smtp_server(smtp_certificates, tls="starttls") as server:
        server.authenticator.echo_wrong_password = True
        yield server


async def test_an_smtp_server_echoing_a_refused_password_leaks_no_spelling_of_it(
    backchannel: RunningServer, echoing_smtp: SmtpServer, smtp_certificates: Certificates
) -> None:
    wrong = "Wr0ng-" + PASSWORD
    await create(
        backchannel,
        recipient_pb2.Recipient(
            id="mail-echo",
            recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
            transport="email",
            transport_settings=struct(
                {
                    "host": "127.0.0.1",
                    "port": echoing_smtp.port,
                    "ca_certificate": smtp_certificates.ca_pem,
                    "username": USERNAME,
                    "from_address": "feedback@backchannel.example",
                    "to": ["partner@example.com"],
                }
            ),
            secret_settings=struct({"password": wrong}),
        ),
    )

    texts = await recorded_and_tested_texts(backchannel, "mail-echo")

    secrets = [*spellings(wrong), base64.b64encode(wrong.encode()).decode()]
    assert leaked(texts, secrets) == []
