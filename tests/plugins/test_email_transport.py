"""The email transport against real aiosmtpd servers on loopback, with TLS and AUTH."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib.metadata import entry_points
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pluggy
import pytest
from support.smtp_server import (
    PASSWORD,
    USERNAME,
    Certificates,
    SmtpServer,
    free_port,
    running_smtp_server,
)

import backchannel_email
from backchannel.plugin import (
    PROJECT_NAME,
    DeliveryResult,
    HookSpecs,
    OutboundMessage,
    ProbeStep,
    RenderedContent,
    Transport,
    TransportContext,
)
from backchannel.testing import prepare_recipient, settings_problems

LOOPBACK = TransportContext(allowed_networks=(ip_network("127.0.0.0/8"), ip_network("::1/128")))
PARTNER = "partner@example.com"
SECRETS = {"password": PASSWORD}
#: Seconds a send or probe may take, through the host's wrapper.
DEADLINE = 60.0
CSV = RenderedContent(
    body=b"lead_id,kind,outcome.value\r\nlead-42,conversion,1250.00\r\n",
    content_type="text/csv; charset=utf-8",
    file_extension="csv",
)
JSON = RenderedContent(
    body=b'{"feedback_id":"fb_1","kind":"conversion","lead_id":"lead-42"}',
    content_type="application/json",
    file_extension="json",
)
DOCUMENT: Mapping[str, Any] = {
    "feedback_id": "fb_1",
    "kind": "conversion",
    "lead_id": "lead-42",
    "source_id": "source-7",
    "feedback_date": "2025-01-15T10:30:00Z",
    "accepted_at": "2025-01-15T10:30:01Z",
    "outcome": {"status": "sold", "value": Decimal("1250.00"), "currency": "USD"},
    "quality": {"overall_score": 87},
    "attribution": {"campaign": "spring", "keyword": "cheap insurance"},
}


# --- servers and the transport -----------------------------------------------------------


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    directory: Path = tmp_path_factory.mktemp("smtp-certificates")
    return Certificates.create(directory)


@pytest.fixture
def smtp_server(certificates: Certificates) -> Iterator[SmtpServer]:
    """STARTTLS required before anything else; AUTH required before any mail."""
    with running_smtp_server(certificates, tls="starttls") as server:
        yield server


@pytest.fixture
def smtps_server(certificates: Certificates) -> Iterator[SmtpServer]:
    """TLS from the first byte (SMTPS); AUTH required."""
    with running_smtp_server(certificates, tls="implicit") as server:
        yield server


@pytest.fixture
def plaintext_server() -> Iterator[SmtpServer]:
    """No TLS at all: no STARTTLS in its EHLO answer, AUTH offered in plaintext, mail
    accepted without it."""
    with running_smtp_server(None, tls="none") as server:
        yield server


def registered_transports() -> list[Transport[Any]]:
    """The transports the plugin registers through the host's hook."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(HookSpecs)
    manager.register(backchannel_email)
    transports: list[Transport[Any]] = []
    manager.hook.register_transports(register=transports.append)
    return transports


async def started(context: TransportContext) -> Transport[Any]:
    [transport] = registered_transports()
    await transport.start(context)
    return transport


@pytest.fixture
async def transport() -> AsyncIterator[Transport[Any]]:
    transport = await started(LOOPBACK)
    yield transport
    await transport.aclose()


@pytest.fixture
async def guarded_transport() -> AsyncIterator[Transport[Any]]:
    """A transport with no network allowlisted, as in production."""
    transport = await started(TransportContext())
    yield transport
    await transport.aclose()


def settings_for(
    server: SmtpServer, certificates: Certificates | None, **overrides: Any
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "username": USERNAME,
        "from_address": "Backchannel <feedback@backchannel.example>",
        "to": [PARTNER],
    }
    if certificates is not None:
        settings["ca_certificate"] = certificates.ca_pem
    settings.update(overrides)
    return {name: value for name, value in settings.items() if value is not None}


@dataclass(frozen=True)
class Post:
    """One delivery to an email recipient: its settings and the message."""

    settings: Mapping[str, Any]
    secrets: Mapping[str, Any]
    message: OutboundMessage


def message(
    settings: Mapping[str, Any],
    *,
    secrets: Mapping[str, Any] = SECRETS,
    content: RenderedContent = CSV,
    document: Mapping[str, Any] = DOCUMENT,
    delivery_id: str = "dlv_01hzy0000000000000000000",
) -> Post:
    outbound = OutboundMessage(
        delivery_id=delivery_id,
        feedback_id=str(document.get("feedback_id", "")),
        recipient_id="rcp_1",
        attempt=1,
        event_type=f"feedback.{document.get('kind', 'conversion')}",
        content=content,
        document=dict(document),
    )
    return Post(settings, secrets, outbound)


async def send(transport: Transport[Any], post: Post) -> DeliveryResult:
    """One attempt as the host makes it: settings read first, the result redacted."""
    prepared = prepare_recipient(transport, post.settings, post.secrets)
    return await prepared.send(post.message, DEADLINE)


async def probe(
    transport: Transport[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> list[ProbeStep]:
    """A probe as TestRecipient makes it, without the host's own first step when the
    settings passed it: the transport's steps."""
    steps = await prepare_recipient(transport, settings, secrets).probe(DEADLINE)
    if steps and (steps[0].name, steps[0].passed) == ("settings", True):
        return steps[1:]
    return steps


def result_text(result: DeliveryResult) -> str:
    """Every text a result carries, to search for what must not be in it."""
    return " ".join(
        [
            result.response_excerpt,
            result.remote_id or "",
            *result.details.keys(),
            *result.details.values(),
        ]
    )


def closed_port() -> int:
    return free_port()


# --- the plugin --------------------------------------------------------------------------


def test_plugin_is_installed_under_the_backchannel_entry_point_group() -> None:
    [entry_point] = [ep for ep in entry_points(group="backchannel") if ep.name == "email"]
    assert entry_point.value == "backchannel_email"
    assert entry_point.load() is backchannel_email


def test_hook_registers_one_transport_named_email() -> None:
    [transport] = registered_transports()
    assert isinstance(transport, Transport)
    assert transport.name == "email"
    assert transport.settings_model.secret_names() == {"password"}


def test_public_names_are_exactly_the_listed_ones() -> None:
    assert backchannel_email.__all__ == ["EmailSettings", "EmailTransport", "register_transports"]


# --- what arrives ------------------------------------------------------------------------


async def test_message_arrives_over_tls_with_from_to_and_cc_headers(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(
        smtp_server, certificates, to=[PARTNER, "Ops Team <ops@example.com>"], cc=["cc@example.com"]
    )
    result = await send(transport, message(settings))
    assert result.succeeded, result.response_excerpt
    [received] = smtp_server.handler.messages
    assert received.over_tls
    assert received.mail_from == "feedback@backchannel.example"
    assert received.rcpt_tos == (PARTNER, "ops@example.com", "cc@example.com")
    headers = received.message
    assert headers["From"] == "Backchannel <feedback@backchannel.example>"
    assert headers["To"] == f"{PARTNER}, Ops Team <ops@example.com>"
    assert headers["Cc"] == "cc@example.com"
    assert smtp_server.authenticator.attempts[-1][1] == USERNAME


async def test_bcc_is_only_in_the_envelope(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(smtp_server, certificates, bcc=["hidden@example.com"])
    result = await send(transport, message(settings))
    assert result.succeeded
    [received] = smtp_server.handler.messages
    assert received.rcpt_tos == (PARTNER, "hidden@example.com")
    assert "Bcc" not in received.message
    assert b"hidden@example.com" not in received.raw


async def test_bcc_alone_is_enough_recipients(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(smtp_server, certificates, to=None, bcc=["hidden@example.com"])
    result = await send(transport, message(settings))
    assert result.succeeded
    [received] = smtp_server.handler.messages
    assert received.rcpt_tos == ("hidden@example.com",)
    assert "To" not in received.message


async def test_subject_and_body_come_from_the_templates(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(
        smtp_server,
        certificates,
        subject_template="[{{ source_id }}] {{ lead_id }} is {{ outcome.status }}",
        body_template="Lead {{ lead_id }} earned {{ outcome.value }} {{ outcome.currency }}.",
    )
    await send(transport, message(settings))
    [received] = smtp_server.handler.messages
    assert received.message["Subject"] == "[source-7] lead-42 is sold"
    body = received.message.get_body(("plain",))
    assert body is not None
    assert body.get_content().strip() == "Lead lead-42 earned 1250.00 USD."


async def test_default_subject_and_body_summarise_the_feedback(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    await send(transport, message(settings_for(smtp_server, certificates)))
    [received] = smtp_server.handler.messages
    assert received.message["Subject"] == "Lead lead-42: conversion"
    body = received.message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    for line in (
        "Lead lead-42: conversion feedback",
        "Source: source-7",
        "Outcome: sold",
        "Value: 1250.00 USD",
        "Quality score: 87",
        "Attribution: campaign spring, creative -, keyword cheap insurance",
    ):
        assert line in text


async def test_html_template_adds_an_escaped_html_alternative(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(
        smtp_server, certificates, html_template="<p>Lead <b>{{ lead_id }}</b></p>"
    )
    document = {**DOCUMENT, "lead_id": "<script>x</script>"}
    await send(transport, message(settings, document=document))
    [received] = smtp_server.handler.messages
    html = received.message.get_body(("html",))
    plain = received.message.get_body(("plain",))
    assert html is not None and plain is not None
    assert html.get_content().strip() == "<p>Lead <b>&lt;script&gt;x&lt;/script&gt;</b></p>"
    assert "<script>x</script>" in plain.get_content()


@pytest.mark.parametrize("content", [CSV, JSON], ids=["csv", "json"])
async def test_attachment_is_the_rendered_content_byte_for_byte(
    smtp_server: SmtpServer,
    certificates: Certificates,
    transport: Transport[Any],
    content: RenderedContent,
) -> None:
    await send(transport, message(settings_for(smtp_server, certificates), content=content))
    [received] = smtp_server.handler.messages
    [attachment] = received.message.iter_attachments()
    assert attachment.get_filename() == f"feedback-fb_1.{content.file_extension}"
    assert attachment.get_content_type() == content.content_type.split(";")[0]
    assert attachment.get_payload(decode=True) == content.body


async def test_attach_false_puts_text_content_in_the_body(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(smtp_server, certificates, attach=False)
    await send(transport, message(settings, content=JSON))
    [received] = smtp_server.handler.messages
    assert list(received.message.iter_attachments()) == []
    body = received.message.get_body(("plain",))
    assert body is not None
    assert JSON.body.decode() in body.get_content()


async def test_attach_false_still_attaches_content_that_is_not_text(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    binary = RenderedContent(b"\x89PNG\r\n\x1a\n\x00", "application/octet-stream", "bin")
    settings = settings_for(smtp_server, certificates, attach=False)
    result = await send(transport, message(settings, content=binary))
    [received] = smtp_server.handler.messages
    [attachment] = received.message.iter_attachments()
    assert attachment.get_payload(decode=True) == binary.body
    assert "not text" in result.details["content"]


async def test_message_id_is_the_delivery_id_on_every_attempt(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(smtp_server, certificates)
    for _ in range(2):
        await send(transport, message(settings, delivery_id="dlv_retry"))
    ids = [
        (m.message["Message-ID"], m.message["X-Backchannel-Delivery-Id"])
        for m in smtp_server.handler.messages
    ]
    assert ids == [("<dlv_retry@backchannel>", "dlv_retry")] * 2


async def test_success_reports_250_the_queue_id_and_the_bytes_sent(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    result = await send(transport, message(settings_for(smtp_server, certificates)))
    [received] = smtp_server.handler.messages
    assert (result.succeeded, result.remote_code, result.remote_id) == (True, 250, "Q0001")
    assert result.response_excerpt == "250 2.0.0 Ok: queued as Q0001"
    assert result.bytes_sent == len(received.raw)


async def test_implicit_tls_delivers(
    smtps_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(smtps_server, certificates, tls="implicit")
    result = await send(transport, message(settings))
    assert result.succeeded, result.response_excerpt
    [received] = smtps_server.handler.messages
    assert received.over_tls


async def test_line_breaks_in_document_values_never_make_a_header(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    document = {**DOCUMENT, "lead_id": "lead-42\r\nBcc: thief@evil.example\r\nX-Evil: 1"}
    result = await send(
        transport, message(settings_for(smtp_server, certificates), document=document)
    )
    assert result.succeeded
    [received] = smtp_server.handler.messages
    assert (
        received.message["Subject"] == "Lead lead-42 Bcc: thief@evil.example X-Evil: 1: conversion"
    )
    assert "Bcc" not in received.message
    assert "X-Evil" not in received.message
    assert received.rcpt_tos == (PARTNER,)


# --- when the server says no -------------------------------------------------------------


async def test_wrong_password_is_not_retryable_and_nothing_is_sent(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(smtp_server, certificates)
    result = await send(transport, message(settings, secrets={"password": "not-the-password"}))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, False, 535)
    assert result.response_excerpt.startswith(
        f"127.0.0.1:{smtp_server.port} refused the login for {USERNAME}: 535"
    )
    assert smtp_server.authenticator.attempts != []
    assert smtp_server.handler.commands == []


async def test_untrusted_certificate_is_a_tls_failure_and_nothing_is_sent(
    smtp_server: SmtpServer, transport: Transport
) -> None:
    result = await send(transport, message(settings_for(smtp_server, None)))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, False, None)
    assert result.response_excerpt.startswith(
        f"TLS certificate of 127.0.0.1:{smtp_server.port} is not trusted"
    )
    assert result.details["step"] == "tls"
    assert smtp_server.authenticator.attempts == []
    assert smtp_server.handler.commands == []


async def test_untrusted_certificate_over_implicit_tls_is_a_tls_failure(
    smtps_server: SmtpServer, transport: Transport
) -> None:
    result = await send(transport, message(settings_for(smtps_server, None, tls="implicit")))
    assert (result.succeeded, result.retryable) == (False, False)
    assert "is not trusted" in result.response_excerpt
    assert smtps_server.authenticator.attempts == []


async def test_certificate_is_not_checked_only_when_verification_is_turned_off(
    smtp_server: SmtpServer, transport: Transport
) -> None:
    settings = settings_for(smtp_server, None, verify_certificate=False)
    result = await send(transport, message(settings))
    assert result.succeeded, result.response_excerpt
    [received] = smtp_server.handler.messages
    assert received.over_tls


async def test_server_without_starttls_is_refused_and_nothing_is_sent_in_clear(
    plaintext_server: SmtpServer, transport: Transport
) -> None:
    result = await send(transport, message(settings_for(plaintext_server, None)))
    assert (result.succeeded, result.retryable) == (False, False)
    assert result.response_excerpt == (
        f"127.0.0.1:{plaintext_server.port} does not offer STARTTLS: "
        "refusing to send anything without TLS"
    )
    assert plaintext_server.authenticator.attempts == []
    assert plaintext_server.handler.commands == []


async def test_partial_refusal_succeeds_and_names_the_refused_addresses(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    smtp_server.handler.refuse.update(
        {
            "gone@example.com": "550 5.1.1 No such user",
            "full@example.com": "452 4.2.2 Mailbox full",
        }
    )
    settings = settings_for(
        smtp_server, certificates, to=[PARTNER, "gone@example.com"], cc=["full@example.com"]
    )
    result = await send(transport, message(settings))
    assert (result.succeeded, result.remote_code, result.remote_id) == (True, 250, "Q0001")
    assert result.details["refused_recipients"] == (
        "gone@example.com (550 5.1.1 No such user), full@example.com (452 4.2.2 Mailbox full)"
    )
    assert result.details["accepted_recipients"] == "1"
    assert result.response_excerpt.startswith("accepted for 1 of 3 recipients; refused: ")
    [received] = smtp_server.handler.messages
    assert received.rcpt_tos == (PARTNER,)


async def test_every_recipient_refused_with_550_is_not_retryable(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    smtp_server.handler.refuse_all = "550 5.1.1 No such user"
    result = await send(transport, message(settings_for(smtp_server, certificates)))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, False, 550)
    assert PARTNER in result.details["refused_recipients"]
    assert smtp_server.handler.messages == []


async def test_every_recipient_refused_with_450_is_retryable(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    smtp_server.handler.refuse_all = "450 4.2.1 Try again later"
    result = await send(transport, message(settings_for(smtp_server, certificates)))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, 450)
    assert smtp_server.handler.messages == []


async def test_connection_refused_is_retryable(
    transport: Transport[Any], certificates: Certificates
) -> None:
    settings = {
        "host": "127.0.0.1",
        "port": closed_port(),
        "from_address": "a@b.example",
        "to": PARTNER,
    }
    result = await send(transport, message(settings, secrets={}))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, None)
    assert result.response_excerpt == (
        f"cannot connect to 127.0.0.1:{settings['port']}: connection refused"
    )


async def test_no_greeting_within_the_connect_timeout_is_retryable(
    transport: Transport[Any],
) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does) but never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        settings = {
            "host": "127.0.0.1",
            "port": port,
            "from_address": "a@b.example",
            "to": PARTNER,
            "connect_timeout_seconds": 0.3,
        }
        started_at = time.monotonic()
        result = await send(transport, message(settings, secrets={}))
    assert time.monotonic() - started_at < 5
    assert (result.succeeded, result.retryable) == (False, True)
    assert result.response_excerpt == f"timed out connecting to 127.0.0.1:{port} (after 0.3 s)"


async def test_no_answer_to_the_message_within_timeout_seconds_is_retryable(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    smtp_server.handler.data_delay = 5.0
    settings = settings_for(smtp_server, certificates, timeout_seconds=0.5)
    started_at = time.monotonic()
    result = await send(transport, message(settings))
    assert time.monotonic() - started_at < 3
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, None)
    assert result.response_excerpt == (
        f"timed out sending the message with 127.0.0.1:{smtp_server.port} (after 0.5 s)"
    )


async def test_loopback_is_refused_unless_allowlisted(
    smtp_server: SmtpServer, certificates: Certificates, guarded_transport: Transport
) -> None:
    result = await send(guarded_transport, message(settings_for(smtp_server, certificates)))
    assert (result.succeeded, result.retryable) == (False, False)
    assert result.response_excerpt == "refused: destination address is loopback (not allowlisted)"
    assert smtp_server.handler.commands == []


async def test_template_failing_for_one_feedback_fails_that_delivery_without_retrying(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(smtp_server, certificates, subject_template="{{ outcome.value + 1 }}")
    document = {key: value for key, value in DOCUMENT.items() if key != "outcome"}
    result = await send(transport, message(settings, document=document))
    assert (result.succeeded, result.retryable) == (False, False)
    assert result.response_excerpt.startswith("a template failed for this feedback")
    assert smtp_server.handler.commands == []


# --- secrets never come back -------------------------------------------------------------


async def test_password_echoed_by_the_server_is_masked(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    smtp_server.authenticator.echo_wrong_password = True
    settings = settings_for(smtp_server, certificates)
    result = await send(transport, message(settings, secrets={"password": "client-Secret-771"}))
    assert result.remote_code == 535
    assert "password *** is wrong" in result.response_excerpt
    assert "client-Secret-771" not in result_text(result)


async def test_password_is_in_no_result_or_probe_step(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(smtp_server, certificates)
    sent = await send(transport, message(settings))
    steps = await probe(transport, settings, SECRETS)
    assert sent.succeeded
    assert all(step.passed for step in steps)
    texts = [result_text(sent), *(step.detail for step in steps)]
    assert not any(PASSWORD in text for text in texts)


# --- settings, as the host reads them ------------------------------------------------------


def check(settings: Mapping[str, Any], secrets: Mapping[str, Any] | None = None) -> dict[str, str]:
    [transport] = registered_transports()
    return {p.field: p.description for p in settings_problems(transport, settings, secrets or {})}


VALID: Mapping[str, Any] = {
    "host": "smtp.partner.example",
    "from_address": "feedback@backchannel.example",
    "to": [PARTNER],
}


def test_complete_settings_have_no_problems(certificates: Certificates) -> None:
    settings = {
        **VALID,
        "port": 465.0,  # numbers arrive as floats from a protobuf Struct
        "tls": "implicit",
        "verify_certificate": True,
        "ca_certificate": certificates.ca_pem,
        "username": "feedback",
        "cc": ["Ops <ops@example.com>"],
        "bcc": ["audit@example.com"],
        "subject_template": "{{ kind }} for {{ lead_id }}",
        "body_template": "{{ outcome.value }} {{ return.reason_code }} {{ quality.get('x') }}",
        "html_template": "<p>{{ lead_id }}</p>",
        "attach": False,
        "connect_timeout_seconds": 3,
        "timeout_seconds": 20.5,
    }
    assert check(settings, {"password": "pw"}) == {}


def test_every_problem_is_listed_at_once() -> None:
    settings = {
        "host": "smtp..example",
        "port": 70000,
        "tls": "none",
        "colour": "red",
        "from_address": "not an address",
        "to": ["ok@example.com", "bad@"],
        "subject_template": "{{ lead_id ",
        "body_template": "{{ lead_idd }}",
        "attach": "yes",
        "timeout_seconds": 0,
        "username": "feedback",
    }
    assert set(check(settings, {})) == {
        "transport_settings.host",
        "transport_settings.port",
        "transport_settings.tls",
        "transport_settings.colour",
        "transport_settings.from_address",
        "transport_settings.to[1]",
        "transport_settings.subject_template",
        "transport_settings.body_template",
        "transport_settings.attach",
        "transport_settings.timeout_seconds",
        "secret_settings.password",
    }


def test_password_in_plain_settings_is_refused_without_echoing_it() -> None:
    problems = check({**VALID, "username": "u", "password": "pw-leaky-93"}, {"password": "x"})
    assert problems == {"transport_settings.password": "is secret: give it in secret_settings"}


def test_plain_setting_in_secret_settings_is_refused() -> None:
    problems = check(VALID, {"host": "smtp.example"})
    assert problems == {"secret_settings.host": "is not secret: give it in transport_settings"}


@pytest.mark.parametrize("mode", ["none", "plain", "plaintext", "opportunistic", False])
def test_there_is_no_way_to_send_without_tls(mode: Any) -> None:
    assert check({**VALID, "tls": mode}) == {
        "transport_settings.tls": "must be 'starttls' or 'implicit': "
        "email is never sent without TLS"
    }


def test_template_syntax_error_is_reported_with_the_settings() -> None:
    problems = check({**VALID, "body_template": "Lead {{ lead_id }}\n{% if kind %}open"})
    assert problems["transport_settings.body_template"].startswith("syntax error on line 2")


def test_undefined_template_name_is_reported_with_the_settings() -> None:
    problems = check({**VALID, "html_template": "<p>{{ outcome.valeu }}</p>"})
    assert "valeu" in problems["transport_settings.html_template"]


def test_template_reaching_outside_the_sandbox_is_reported() -> None:
    problems = check({**VALID, "subject_template": "{{ lead_id.__class__.__mro__ }}"})
    assert "unsafe" in problems["transport_settings.subject_template"]


def test_at_least_one_recipient_is_required() -> None:
    problems = check({key: value for key, value in VALID.items() if key != "to"})
    assert problems == {
        "transport_settings.to": "at least one recipient is required in to, cc or bcc"
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", ["partner@example.com\r\nBcc: thief@evil.example"]),
        ("cc", ["Partner\n <partner@example.com>"]),
        ("from_address", "feedback@backchannel.example\rRCPT TO:<thief@evil.example>"),
    ],
)
def test_address_with_a_line_break_is_refused(field: str, value: Any) -> None:
    problems = check({**VALID, field: value})
    [(name, description)] = problems.items()
    assert name.startswith(f"transport_settings.{field}")
    assert description == "must not contain line breaks or control characters"


def test_subject_template_with_a_line_break_is_refused() -> None:
    problems = check({**VALID, "subject_template": "Lead {{ lead_id }}\r\nBcc: thief@evil.example"})
    assert problems == {
        "transport_settings.subject_template": "must be one line: "
        "no line breaks or control characters"
    }


@pytest.mark.parametrize(
    "address",
    [
        "partner",
        "partner@",
        "@example.com",
        "a b@example.com",
        "a@exa mple.com",
        "a@@b.com",
        "Name <a@b.com",
        "a@b.com>",
        "<a@b.com> trailing",
        "pärtner@example.com",
    ],
)
def test_malformed_address_is_a_problem(address: str) -> None:
    assert set(check({**VALID, "to": [address]})) == {"transport_settings.to[0]"}


def test_password_without_username_and_username_without_password_are_problems() -> None:
    assert set(check(VALID, {"password": "pw"})) == {"secret_settings.password"}
    assert set(check({**VALID, "username": "u"})) == {"secret_settings.password"}


def test_ca_certificate_that_is_not_pem_is_a_problem() -> None:
    problems = check({**VALID, "ca_certificate": "-----BEGIN CERTIFICATE-----\nnope\n"})
    assert set(problems) == {"transport_settings.ca_certificate"}


async def test_send_with_invalid_settings_fails_without_retrying(transport: Transport[Any]) -> None:
    result = await send(transport, message({**VALID, "tls": "none"}, secrets={}))
    assert (result.succeeded, result.retryable) == (False, False)
    assert result.response_excerpt.startswith("invalid settings: transport_settings.tls")


# --- probe -------------------------------------------------------------------------------


def outline(steps: list[ProbeStep] | Any) -> list[tuple[str, bool]]:
    return [(step.name, step.passed) for step in steps]


async def test_probe_reports_each_step_and_sends_nothing(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    settings = settings_for(smtp_server, certificates, bcc=["audit@example.com"])
    steps = await probe(transport, settings, SECRETS)
    assert outline(steps) == [("connect", True), ("tls", True), ("login", True), ("sender", True)]
    assert steps[1].detail.startswith("STARTTLS, TLSv1.")
    assert steps[2].detail == f"logged in as {USERNAME}"
    assert "nothing was sent" in steps[3].detail
    assert smtp_server.handler.messages == []
    assert smtp_server.handler.commands == [
        ("MAIL", "feedback@backchannel.example"),
        ("RCPT", PARTNER),
        ("RCPT", "audit@example.com"),
        ("RSET", ""),
    ]


async def test_probe_over_implicit_tls_reports_each_step(
    smtps_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    steps = await probe(
        transport, settings_for(smtps_server, certificates, tls="implicit"), SECRETS
    )
    assert outline(steps) == [("connect", True), ("tls", True), ("login", True), ("sender", True)]
    assert steps[1].detail.startswith("implicit TLS, TLSv1.")


async def test_probe_stops_at_connect_when_nothing_listens(transport: Transport[Any]) -> None:
    settings = {
        "host": "127.0.0.1",
        "port": closed_port(),
        "from_address": "a@b.example",
        "to": PARTNER,
    }
    steps = await probe(transport, settings, {})
    assert outline(steps) == [("connect", False)]
    assert "connection refused" in steps[0].detail


async def test_probe_stops_at_tls_when_the_certificate_is_not_trusted(
    smtp_server: SmtpServer, transport: Transport
) -> None:
    steps = await probe(transport, settings_for(smtp_server, None), SECRETS)
    assert outline(steps) == [("connect", True), ("tls", False)]
    assert "is not trusted" in steps[1].detail


async def test_probe_stops_at_tls_when_the_server_offers_no_starttls(
    plaintext_server: SmtpServer, transport: Transport
) -> None:
    steps = await probe(transport, settings_for(plaintext_server, None), SECRETS)
    assert outline(steps) == [("connect", True), ("tls", False)]
    assert "does not offer STARTTLS" in steps[1].detail


async def test_probe_stops_at_login_with_a_wrong_password(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    steps = await probe(transport, settings_for(smtp_server, certificates), {"password": "nope"})
    assert outline(steps) == [("connect", True), ("tls", True), ("login", False)]
    assert f"refused the login for {USERNAME}: 535" in steps[2].detail
    assert smtp_server.handler.commands == []


async def test_probe_fails_the_sender_step_when_a_recipient_is_refused(
    smtp_server: SmtpServer, certificates: Certificates, transport: Transport
) -> None:
    smtp_server.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"
    settings = settings_for(smtp_server, certificates, cc=["gone@example.com"])
    steps = await probe(transport, settings, SECRETS)
    assert outline(steps) == [("connect", True), ("tls", True), ("login", True), ("sender", False)]
    assert "refused 1 of 2 recipients: gone@example.com (550 5.1.1 No such user)" in steps[3].detail
    assert ("RSET", "") in smtp_server.handler.commands
    assert smtp_server.handler.messages == []


async def test_probe_of_unusable_settings_stops_at_settings(transport: Transport[Any]) -> None:
    steps = await probe(transport, {"tls": "none"}, {})
    assert outline(steps) == [("settings", False)]
    assert "transport_settings.tls" in steps[0].detail
