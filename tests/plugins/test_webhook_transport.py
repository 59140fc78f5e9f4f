"""The webhook transport against real aiohttp servers on loopback."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from ipaddress import ip_network
from typing import Any

import pluggy
import pytest
from aiohttp import web
from multidict import CIMultiDict
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import backchannel_webhook
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

LOOPBACK = TransportContext(
    allowed_networks=(ip_network("127.0.0.0/8"), ip_network("::1/128")),
    user_agent="Backchannel-test/1",
)
BODY = b'{"feedback_id":"fb_1","kind":"conversion"}'
#: Seconds a send or probe may take, through the host's wrapper.
DEADLINE = 60.0
# Two Standard Webhooks secrets (32-byte keys), as in a key rotation.
SECRET_A = "whsec_" + base64.b64encode(bytes(range(32))).decode()
SECRET_B = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    method: str
    path_qs: str
    headers: CIMultiDict[str]
    body: bytes


@dataclass
class Receiver:
    host: str
    port: int
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/hooks"


Serve = Callable[..., Awaitable[Receiver]]


async def answer_200(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts real aiohttp servers that record every request, then answer with ``handler``."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler = answer_200, host: str = "127.0.0.1") -> Receiver:
        receiver = Receiver(host=host, port=0)

        async def record(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            receiver.requests.append(
                Received(request.method, request.path_qs, CIMultiDict(request.headers), body)
            )
            return await handler(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, host, 0).start()
        receiver.port = runner.addresses[0][1]
        return receiver

    yield start
    for runner in runners:
        await runner.cleanup()


def registered_transports() -> list[Transport[Any]]:
    """The transports the plugin registers through the host's hook."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(HookSpecs)
    manager.register(backchannel_webhook)
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


async def send(
    transport: Transport[Any],
    url: str | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    delivery_id: str = "dlv_01HZY",
    traceparent: str | None = None,
    body: bytes = BODY,
) -> DeliveryResult:
    """One send to a recipient with these settings (``url`` among the plain ones), as the
    host makes it: settings read first, the result redacted."""
    plain = dict(settings or {})
    if url is not None:
        plain["url"] = url
    message = OutboundMessage(
        delivery_id=delivery_id,
        feedback_id="fb_1",
        recipient_id="rcp_1",
        attempt=1,
        event_type="feedback.conversion",
        content=RenderedContent(body=body, content_type="application/json", file_extension="json"),
        document={"feedback_id": "fb_1", "kind": "conversion"},
        traceparent=traceparent,
    )
    prepared = prepare_recipient(transport, plain, dict(secrets or {}))
    return await prepared.send(message, DEADLINE)


async def probe(
    transport: Transport[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> list[ProbeStep]:
    """A probe of a recipient with these settings, as TestRecipient makes it."""
    return await prepare_recipient(transport, settings, secrets).probe(DEADLINE)


def status_handler(status: int, headers: Mapping[str, str] | None = None) -> Handler:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=f"status {status}", headers=headers)

    return answer


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


Auth = tuple[dict[str, str], dict[str, str]]
BEARER: Auth = ({"auth": "bearer"}, {"bearer_token": "tok-3f9a1c77e2"})
BASIC: Auth = ({"auth": "basic", "basic_username": "partner"}, {"basic_password": "pässword-81"})
API_KEY: Auth = (
    {"auth": "api_key", "api_key_header": "X-Api-Key"},
    {"api_key": "key-0c5e41b9"},
)


async def requests_with_auth(serve: Serve, transport: Transport[Any], auth: Auth) -> list[Received]:
    """What a receiver gets from one send with the given auth settings."""
    receiver = await serve()
    settings, secrets = auth
    await send(transport, receiver.url, settings=settings, secrets=secrets)
    return receiver.requests


# --- the plugin --------------------------------------------------------------------------


def test_plugin_is_installed_under_the_backchannel_entry_point_group() -> None:
    [entry_point] = [ep for ep in entry_points(group="backchannel") if ep.name == "webhook"]
    assert entry_point.value == "backchannel_webhook"
    assert entry_point.load() is backchannel_webhook


def test_hook_registers_one_transport_named_webhook() -> None:
    [transport] = registered_transports()
    assert isinstance(transport, Transport)
    assert transport.name == "webhook"
    assert transport.settings_model.secret_names() == {
        "url",
        "signing_secrets",
        "bearer_token",
        "basic_password",
        "api_key",
    }


def test_public_names_are_exactly_the_listed_ones() -> None:
    assert backchannel_webhook.__all__ == [
        "WebhookSettings",
        "WebhookTransport",
        "register_transports",
    ]


# --- signing -----------------------------------------------------------------------------


async def test_signature_verifies_with_the_standardwebhooks_package(
    serve: Serve, transport: Transport
) -> None:
    receiver = await serve()
    before = int(time.time())
    result = await send(
        transport, receiver.url, secrets={"signing_secrets": SECRET_A}, delivery_id="dlv_sig"
    )
    after = int(time.time())
    assert result.succeeded
    [request] = receiver.requests
    assert request.headers["webhook-id"] == "dlv_sig"
    assert before <= int(request.headers["webhook-timestamp"]) <= after
    Webhook(SECRET_A).verify(request.body, dict(request.headers))


async def test_each_rotating_secret_verifies_on_its_own(
    serve: Serve, transport: Transport[Any]
) -> None:
    receiver = await serve()
    await send(transport, receiver.url, secrets={"signing_secrets": [SECRET_A, SECRET_B]})
    [request] = receiver.requests
    headers = dict(request.headers)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET_A).verify(request.body, headers)
    Webhook(SECRET_B).verify(request.body, headers)
    stranger = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(request.body, headers)


async def test_webhook_id_is_the_delivery_id_on_every_attempt(
    serve: Serve, transport: Transport
) -> None:
    receiver = await serve(status_handler(503))
    for _ in range(2):
        await send(transport, receiver.url, delivery_id="dlv_retry")
    assert [r.headers["webhook-id"] for r in receiver.requests] == ["dlv_retry", "dlv_retry"]


async def test_request_is_a_post_of_the_body_with_its_content_type(
    serve: Serve, transport: Transport
) -> None:
    receiver = await serve()
    result = await send(transport, receiver.url)
    [request] = receiver.requests
    assert (request.method, request.path_qs, request.body) == ("POST", "/hooks", BODY)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Backchannel-test/1"
    assert result.bytes_sent == len(BODY)


# --- how answers are classified ----------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_2xx_succeeds(serve: Serve, transport: Transport[Any], status: int) -> None:
    receiver = await serve(status_handler(status))
    result = await send(transport, receiver.url)
    assert result.succeeded
    assert result.remote_code == status


async def test_request_id_header_becomes_the_remote_id(
    serve: Serve, transport: Transport[Any]
) -> None:
    receiver = await serve(status_handler(202, {"X-Request-Id": "req-7781"}))
    result = await send(transport, receiver.url)
    assert result.remote_id == "req-7781"


async def test_response_excerpt_is_at_most_256_characters_of_the_body(
    serve: Serve, transport: Transport
) -> None:
    async def long_answer(request: web.Request) -> web.StreamResponse:
        return web.Response(text="é" + "x" * 200_000)

    receiver = await serve(long_answer)
    result = await send(transport, receiver.url)
    assert result.succeeded
    assert result.response_excerpt == "é" + "x" * 255


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_408_429_and_5xx_are_retryable(
    serve: Serve, transport: Transport[Any], status: int
) -> None:
    receiver = await serve(status_handler(status))
    result = await send(transport, receiver.url)
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, status)
    assert result.response_excerpt == f"status {status}"


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_in_seconds_is_read(
    serve: Serve, transport: Transport[Any], status: int
) -> None:
    receiver = await serve(status_handler(status, {"Retry-After": "120"}))
    result = await send(transport, receiver.url)
    assert result.retry_after == 120.0


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_as_an_http_date_is_read_as_seconds_from_now(
    serve: Serve, transport: Transport[Any], status: int
) -> None:
    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    receiver = await serve(status_handler(status, {"Retry-After": when}))
    result = await send(transport, receiver.url)
    assert result.retry_after is not None
    assert 85.0 <= result.retry_after <= 91.0


async def test_retry_after_date_in_the_past_is_zero_seconds(
    serve: Serve, transport: Transport
) -> None:
    when = email.utils.formatdate(time.time() - 3600, usegmt=True)
    receiver = await serve(status_handler(503, {"Retry-After": when}))
    result = await send(transport, receiver.url)
    assert result.retry_after == 0.0


async def test_410_means_gone_and_not_retryable(serve: Serve, transport: Transport[Any]) -> None:
    receiver = await serve(status_handler(410))
    result = await send(transport, receiver.url)
    assert (result.succeeded, result.retryable, result.gone) == (False, False, True)
    assert result.remote_code == 410


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_4xx_is_not_retryable(
    serve: Serve, transport: Transport[Any], status: int
) -> None:
    receiver = await serve(status_handler(status))
    result = await send(transport, receiver.url)
    assert (result.succeeded, result.retryable, result.gone) == (False, False, False)
    assert result.remote_code == status


async def test_redirect_is_not_followed_and_not_retryable(
    serve: Serve, transport: Transport
) -> None:
    target = await serve()
    redirector = await serve(status_handler(302, {"Location": target.url}))
    result = await send(transport, redirector.url)
    assert (result.succeeded, result.retryable, result.remote_code) == (False, False, 302)
    assert len(redirector.requests) == 1
    assert target.requests == []


# --- when no answer comes ----------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_connection_refused_is_retryable(transport: Transport[Any]) -> None:
    result = await send(transport, f"http://127.0.0.1:{closed_port()}/hooks")
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, None)
    assert "cannot connect" in result.response_excerpt
    assert "refused" in result.response_excerpt


async def test_no_answer_within_timeout_seconds_is_retryable(
    serve: Serve, transport: Transport
) -> None:
    async def never_answer(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)
        return web.Response()

    receiver = await serve(never_answer)
    started_at = time.monotonic()
    result = await send(transport, receiver.url, settings={"timeout_seconds": 0.5})
    assert time.monotonic() - started_at < 5
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, None)
    assert "timed out" in result.response_excerpt
    assert len(receiver.requests) == 1


async def test_connection_reset_mid_response_is_retryable(
    serve: Serve, transport: Transport
) -> None:
    async def reset_mid_status_line(request: web.Request) -> web.StreamResponse:
        connection = request.transport
        assert connection is not None
        connection.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        connection.write(b"HTTP/1.1 20")
        await asyncio.sleep(0.05)
        connection.abort()  # with SO_LINGER 0: a TCP reset, not a clean close
        await asyncio.sleep(1)
        return web.Response()

    receiver = await serve(reset_mid_status_line)
    result = await send(transport, receiver.url)
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, None)
    assert len(receiver.requests) == 1


async def test_2xx_whose_body_is_cut_off_still_succeeded(
    serve: Serve, transport: Transport
) -> None:
    async def cut_off_body(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b"accepted")
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.close()
        return response

    receiver = await serve(cut_off_body)
    result = await send(transport, receiver.url)
    assert (result.succeeded, result.remote_code) == (True, 200)
    assert result.response_excerpt == "accepted"
    assert result.details["response_body"].startswith("incomplete")


# --- headers and authentication ----------------------------------------------------------


async def test_custom_headers_arrive(serve: Serve, transport: Transport[Any]) -> None:
    receiver = await serve()
    headers = {"X-Tenant": "acme", "X-Feed": "leads-eu"}
    await send(transport, receiver.url, settings={"headers": headers})
    [request] = receiver.requests
    assert (request.headers["x-tenant"], request.headers["x-feed"]) == ("acme", "leads-eu")


async def test_bearer_token_arrives(serve: Serve, transport: Transport[Any]) -> None:
    [request] = await requests_with_auth(serve, transport, BEARER)
    assert request.headers["authorization"] == "Bearer tok-3f9a1c77e2"


async def test_basic_credentials_arrive(serve: Serve, transport: Transport[Any]) -> None:
    [request] = await requests_with_auth(serve, transport, BASIC)
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "partner:pässword-81"


async def test_api_key_arrives_in_its_header(serve: Serve, transport: Transport[Any]) -> None:
    [request] = await requests_with_auth(serve, transport, API_KEY)
    assert request.headers["x-api-key"] == "key-0c5e41b9"
    assert "authorization" not in request.headers


async def test_traceparent_arrives(serve: Serve, transport: Transport[Any]) -> None:
    receiver = await serve()
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await send(transport, receiver.url, traceparent=traceparent)
    [request] = receiver.requests
    assert request.headers["traceparent"] == traceparent


async def test_no_signature_header_without_signing_secrets(
    serve: Serve, transport: Transport
) -> None:
    receiver = await serve()
    await send(transport, receiver.url)
    [request] = receiver.requests
    assert "webhook-signature" not in request.headers
    assert "webhook-timestamp" in request.headers


# --- secrets never come back -------------------------------------------------------------


async def echo_request(request: web.Request) -> web.StreamResponse:
    """A receiver that echoes what it got, credentials and all, in its body and headers."""
    headers = request.headers
    seen = f"url={request.url} auth={headers.get('Authorization')} key={headers.get('X-Api-Key')}"
    return web.Response(status=401, text=seen, headers={"X-Request-Id": str(request.url)})


@pytest.mark.parametrize(
    ("auth", "masked", "secret"),
    [
        (BEARER, "auth=Bearer ***", "tok-3f9a1c77e2"),
        (BASIC, "auth=Basic ***", base64.b64encode("partner:pässword-81".encode()).decode()),
        (API_KEY, "key=***", "key-0c5e41b9"),
    ],
)
async def test_credential_echoed_by_the_receiver_is_masked(
    serve: Serve, transport: Transport[Any], auth: Auth, masked: str, secret: str
) -> None:
    receiver = await serve(echo_request)
    settings, secrets = auth
    result = await send(transport, receiver.url, settings=settings, secrets=secrets)
    assert masked in result.response_excerpt
    assert secret not in result_text(result)


async def test_url_given_as_a_secret_never_appears_in_an_answered_result(
    serve: Serve, transport: Transport
) -> None:
    receiver = await serve(echo_request)
    secret_url = f"{receiver.url}?api-version=1&sig=Zm9vYmFyYmF6cXV4c2VjcmV0"
    result = await send(transport, secrets={"url": secret_url})
    assert result.remote_code == 401
    assert len(receiver.requests) == 1
    assert "url=***" in result.response_excerpt
    assert "Zm9vYmFyYmF6cXV4c2VjcmV0" not in result_text(result)
    assert receiver.url not in result_text(result)


async def test_url_given_as_a_secret_never_appears_when_no_answer_comes(
    transport: Transport[Any],
) -> None:
    port = closed_port()
    secret_url = f"http://127.0.0.1:{port}/hooks?sig=Zm9vYmFyYmF6cXV4c2VjcmV0"
    result = await send(transport, secrets={"url": secret_url})
    assert (result.succeeded, result.retryable) == (False, True)
    assert "cannot connect to the endpoint" in result.response_excerpt
    assert str(port) not in result_text(result)
    assert "Zm9vYmFyYmF6cXV4c2VjcmV0" not in result_text(result)


async def test_url_given_as_a_secret_is_not_shown_when_refused(
    serve: Serve, guarded_transport: Transport
) -> None:
    receiver = await serve()
    result = await send(guarded_transport, secrets={"url": receiver.url})
    assert result.response_excerpt.startswith("refused: destination address is loopback")
    assert "127.0.0.1" not in result_text(result)
    assert str(receiver.port) not in result_text(result)
    assert receiver.requests == []


# --- settings, as the host reads them ------------------------------------------------------


def check(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, str]:
    [transport] = registered_transports()
    return {p.field: p.description for p in settings_problems(transport, settings, secrets)}


def test_complete_settings_have_no_problems() -> None:
    settings = {
        "url": "https://hooks.partner.example/leads",
        "headers": {"X-Tenant": "acme"},
        "connect_timeout_seconds": 3,
        "timeout_seconds": 20.5,
        **API_KEY[0],
    }
    secrets = {"signing_secrets": [SECRET_A, SECRET_B], **API_KEY[1]}
    assert check(settings, secrets) == {}


def test_every_problem_is_listed_at_once() -> None:
    settings = {
        "url": "ftp://files.partner.example/",
        "colour": "red",
        "auth": "bearer",
        "headers": {"Content-Type": "text/plain", "bad name": "x", "Webhook-Id": "mine"},
        "timeout_seconds": -1,
        "connect_timeout_seconds": 1000,
    }
    secrets = {"signing_secrets": [SECRET_A, "whsec_not*base64", "plain-secret"]}
    assert set(check(settings, secrets)) == {
        "transport_settings.url",
        "transport_settings.colour",
        "secret_settings.bearer_token",
        "transport_settings.headers.Content-Type",
        "transport_settings.headers.bad name",
        "transport_settings.headers.Webhook-Id",
        "transport_settings.timeout_seconds",
        "transport_settings.connect_timeout_seconds",
        "secret_settings.signing_secrets[1]",
        "secret_settings.signing_secrets[2]",
    }


def test_secret_given_in_plain_settings_is_refused_without_echoing_it() -> None:
    problems = check(
        {"url": "https://hooks.partner.example/", "auth": "bearer", "bearer_token": "tok-leaky"},
        {},
    )
    assert problems["transport_settings.bearer_token"] == "is secret: give it in secret_settings"
    assert all("tok-leaky" not in description for description in problems.values())


def test_missing_url_is_a_problem() -> None:
    assert "transport_settings.url" in check({}, {})


def test_url_given_twice_is_a_problem() -> None:
    url = "https://hooks.partner.example/"
    assert "secret_settings.url" in check({"url": url}, {"url": url})


def test_url_with_credentials_in_plain_settings_is_a_problem() -> None:
    problems = check({"url": "https://user:pw-91@hooks.partner.example/"}, {})
    assert "secret_settings.url" in problems["transport_settings.url"]
    assert "pw-91" not in problems["transport_settings.url"]


@pytest.mark.parametrize("host", ["a" * 64 + ".example", "ex ample.com", "a..b", "1.2.3.4.5"])
def test_url_host_that_no_resolver_takes_is_a_problem(host: str) -> None:
    assert set(check({"url": f"https://{host}/"}, {})) == {"transport_settings.url"}


def test_malformed_secret_url_is_described_without_its_value() -> None:
    problems = check({}, {"url": "gopher://hidden.example/?sig=s3cr3t"})
    assert set(problems) == {"secret_settings.url"}
    assert "hidden.example" not in problems["secret_settings.url"]
    assert "s3cr3t" not in problems["secret_settings.url"]


@pytest.mark.parametrize(
    ("auth", "missing"),
    [
        ({"auth": "bearer"}, {"secret_settings.bearer_token"}),
        (
            {"auth": "basic"},
            {"transport_settings.basic_username", "secret_settings.basic_password"},
        ),
        ({"auth": "api_key"}, {"transport_settings.api_key_header", "secret_settings.api_key"}),
    ],
)
def test_auth_without_its_settings_is_a_problem(auth: dict[str, str], missing: set[str]) -> None:
    assert set(check({"url": "https://hooks.partner.example/", **auth}, {})) == missing


def test_unknown_auth_scheme_is_a_problem() -> None:
    assert "transport_settings.auth" in check(
        {"url": "https://hooks.partner.example/", "auth": "digest"}, {}
    )


def test_bad_signing_secret_is_described_without_its_value() -> None:
    short = "whsec_" + base64.b64encode(b"short").decode()
    problems = check({"url": "https://hooks.partner.example/"}, {"signing_secrets": short})
    assert set(problems) == {"secret_settings.signing_secrets"}
    assert short.removeprefix("whsec_") not in problems["secret_settings.signing_secrets"]


async def test_send_with_invalid_settings_fails_without_retrying(transport: Transport[Any]) -> None:
    result = await send(transport, "ftp://files.partner.example/")
    assert (result.succeeded, result.retryable) == (False, False)
    assert result.response_excerpt.startswith("invalid settings: transport_settings.url")


# --- destination addresses ---------------------------------------------------------------


def ipv6_loopback_unavailable() -> str | None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        return f"::1 cannot be bound here: {error}"
    return None


_NO_IPV6 = ipv6_loopback_unavailable()


@pytest.mark.parametrize(
    ("bind", "spelling"),
    [
        ("127.0.0.2", "127.0.0.2"),
        ("127.0.0.1", "127.1"),
        ("127.0.0.1", "2130706433"),
        ("127.0.0.1", "0x7f000001"),
        ("127.0.0.1", "localhost"),
        pytest.param(
            "::1", "[::1]", marks=pytest.mark.skipif(_NO_IPV6 is not None, reason=str(_NO_IPV6))
        ),
        pytest.param(
            "127.0.0.1",
            "[::ffff:127.0.0.1]",
            marks=pytest.mark.skipif(_NO_IPV6 is not None, reason=str(_NO_IPV6)),
        ),
    ],
)
async def test_loopback_in_any_spelling_is_refused_unless_allowlisted(
    serve: Serve,
    transport: Transport[Any],
    guarded_transport: Transport[Any],
    bind: str,
    spelling: str,
) -> None:
    receiver = await serve(host=bind)
    # The server is there: with loopback allowlisted, its plain address reaches it.
    reachable = await send(transport, receiver.url)
    assert reachable.succeeded
    assert len(receiver.requests) == 1

    result = await send(guarded_transport, f"http://{spelling}:{receiver.port}/hooks")

    assert (result.succeeded, result.retryable, result.remote_code) == (False, False, None)
    assert result.response_excerpt == "refused: destination address is loopback (not allowlisted)"
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("spelling", ["localhost", "127.1", "2130706433", "0x7f000001"])
async def test_allowlisted_loopback_is_reached_by_name_or_any_spelling(
    serve: Serve, transport: Transport[Any], spelling: str
) -> None:
    receiver = await serve()
    result = await send(transport, f"http://{spelling}:{receiver.port}/hooks")
    assert result.succeeded
    assert len(receiver.requests) == 1


async def test_probe_posts_a_signed_test_message_and_reports_each_step(
    serve: Serve, transport: Transport
) -> None:
    receiver = await serve()
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    steps = await probe(transport, {"url": receiver.url}, {"signing_secrets": secret})
    assert [(s.name, s.passed) for s in steps] == [
        ("settings", True),
        ("connect", True),
        ("test message", True),
    ]
    [request] = receiver.requests
    Webhook(secret).verify(request.body, dict(request.headers))
    assert json.loads(request.body)["type"] == "backchannel.test"


async def test_probe_says_which_step_failed(serve: Serve, transport: Transport[Any]) -> None:
    refusing = await serve(status_handler(401))
    steps = await probe(transport, {"url": refusing.url}, {})
    assert [(s.name, s.passed) for s in steps][-1] == ("test message", False)
    assert "HTTP 401" in steps[-1].detail
    closed = f"http://127.0.0.1:{closed_port()}/hooks"
    steps = await probe(transport, {"url": closed}, {})
    assert [(s.name, s.passed) for s in steps] == [("settings", True), ("connect", False)]
    assert (await probe(transport, {}, {}))[0].passed is False
