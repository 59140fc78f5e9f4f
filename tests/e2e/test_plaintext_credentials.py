"""No credential goes over plain text: a webhook recipient whose credentials travel with
each request (``auth`` bearer, basic or api_key, or a secret URL, which carries its
credential in itself) is refused at save time when its URL is ``http://``, unless the
target is this machine (loopback), an address the operator allowlists, or the recipient
says ``allow_plaintext_credentials: true``. A signing secret never leaves the server (only
its HMAC is sent), so signed webhooks over http are accepted."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import pytest
from backchannel_client.v1 import recipient_pb2
from support.in_process_server import RunningServer, serving
from support.recipient_calls import create, invalid_fields, struct, update

AUTH: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "bearer": ({"auth": "bearer"}, {"bearer_token": "tok-plain-text-8e21"}),
    "basic": (
        {"auth": "basic", "basic_username": "feedback"},
        {"basic_password": "pw-plain-text-8e21"},
    ),
    "api_key": (
        {"auth": "api_key", "api_key_header": "X-Api-Key"},
        {"api_key": "key-plain-text-8e21"},
    ),
}


def webhook(settings: dict[str, Any], secrets: dict[str, Any]) -> recipient_pb2.Recipient:
    return recipient_pb2.Recipient(
        id="plain",
        recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
        transport="webhook",
        transport_settings=struct(settings),
        secret_settings=struct(secrets),
    )


@pytest.fixture
async def allowlisting_ten(database_url: str) -> AsyncIterator[RunningServer]:
    """A server whose operator allowlists 10.0.0.0/8 (and loopback)."""
    networks = (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("10.0.0.0/8"),
    )
    async with serving(database_url, outbound_allow_networks=networks) as running:
        yield running


@pytest.mark.parametrize("scheme", sorted(AUTH))
async def test_credentials_to_a_remote_http_url_are_refused(
    backchannel: RunningServer, scheme: str
) -> None:
    settings, secrets = AUTH[scheme]
    recipient = webhook({"url": "http://partner.example/hook", **settings}, secrets)

    assert await invalid_fields(create(backchannel, recipient)) == [
        "recipient.transport_settings.url"
    ]


async def test_a_secret_url_with_user_information_over_http_is_refused(
    backchannel: RunningServer,
) -> None:
    recipient = webhook({}, {"url": "http://feedback:pw-in-url-8e21@partner.example/hook"})

    assert await invalid_fields(create(backchannel, recipient)) == ["recipient.secret_settings.url"]


async def test_a_secret_url_over_http_is_refused(backchannel: RunningServer) -> None:
    recipient = webhook({}, {"url": "http://partner.example/hook?token=tok-in-url-8e21"})

    assert await invalid_fields(create(backchannel, recipient)) == ["recipient.secret_settings.url"]


@pytest.mark.parametrize("scheme", sorted(AUTH))
async def test_credentials_to_a_remote_https_url_are_accepted(
    backchannel: RunningServer, scheme: str
) -> None:
    settings, secrets = AUTH[scheme]

    await create(backchannel, webhook({"url": "https://partner.example/hook", **settings}, secrets))


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost"])
async def test_credentials_over_http_to_this_machine_are_accepted(
    backchannel: RunningServer, host: str
) -> None:
    settings, secrets = AUTH["bearer"]

    await create(backchannel, webhook({"url": f"http://{host}:8080/hook", **settings}, secrets))


async def test_credentials_over_http_to_an_allowlisted_address_are_accepted(
    allowlisting_ten: RunningServer,
) -> None:
    settings, secrets = AUTH["bearer"]

    await create(allowlisting_ten, webhook({"url": "http://10.1.2.3/hook", **settings}, secrets))


async def test_credentials_over_http_to_an_address_outside_the_allowlist_are_refused(
    allowlisting_ten: RunningServer,
) -> None:
    settings, secrets = AUTH["bearer"]
    recipient = webhook({"url": "http://192.168.1.3/hook", **settings}, secrets)

    assert await invalid_fields(create(allowlisting_ten, recipient)) == [
        "recipient.transport_settings.url"
    ]


async def test_the_recipients_own_insecure_flag_lets_credentials_go_over_http(
    backchannel: RunningServer,
) -> None:
    settings, secrets = AUTH["basic"]
    url = "http://partner.example/hook"

    await create(
        backchannel,
        webhook({"url": url, "allow_plaintext_credentials": True, **settings}, secrets),
    )


async def test_a_signed_webhook_over_http_is_accepted(backchannel: RunningServer) -> None:
    secret = "whsec_U2lnbmVkT3ZlclBsYWluSHR0cEtleTAxMjM0NQ=="

    await create(
        backchannel, webhook({"url": "http://partner.example/hook"}, {"signing_secrets": secret})
    )


async def test_an_update_to_an_http_url_keeping_the_token_is_refused(
    backchannel: RunningServer,
) -> None:
    settings, secrets = AUTH["bearer"]
    await create(backchannel, webhook({"url": "https://partner.example/hook", **settings}, secrets))
    downgraded = recipient_pb2.Recipient(
        id="plain", transport_settings=struct({"url": "http://partner.example/hook", **settings})
    )

    fields = await invalid_fields(update(backchannel, downgraded))

    assert "recipient.transport_settings.url" in fields
