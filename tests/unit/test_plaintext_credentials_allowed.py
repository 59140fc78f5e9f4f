"""TransportSettings.plaintext_credentials_allowed: credentials may cross unencrypted only
to this machine (every spelling of loopback, localhost) or an address the operator
allowlists, never to a name whose address is unknown when settings are read."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from backchannel.plugin import (
    DeliveryResult,
    OutboundMessage,
    Transport,
    TransportContext,
    TransportSettings,
)
from backchannel.transport_settings import read_settings


class HostOnly(TransportSettings):
    host: str


class Demo(Transport[HostOnly]):
    name = "demo"
    settings_model = HostOnly

    async def send(self, message: OutboundMessage, settings: HostOnly) -> DeliveryResult:
        return DeliveryResult(succeeded=True)


def allowed(host: str, *networks: str) -> bool:
    transport: Transport[Any] = Demo()
    transport.context = TransportContext(
        allowed_networks=tuple(ipaddress.ip_network(n) for n in networks)
    )
    settings = read_settings(transport, {"host": host}, {}).settings
    assert isinstance(settings, HostOnly)
    return settings.plaintext_credentials_allowed(host)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.1", "2130706433", "::1", "[::1]", "::ffff:127.0.0.1", "localhost",
     "LOCALHOST.", "api.localhost"],
)  # fmt: skip
def test_this_machine_is_allowed_in_every_spelling(host: str) -> None:
    assert allowed(host)


@pytest.mark.parametrize(
    "host", ["10.1.2.3", "192.168.0.9", "partner.example", "localhost.example"]
)
def test_other_hosts_are_not(host: str) -> None:
    assert not allowed(host)


def test_an_allowlisted_address_is_allowed_and_a_name_never_is() -> None:
    assert allowed("10.1.2.3", "10.0.0.0/8")
    assert not allowed("10.1.2.3", "192.168.0.0/16")
    assert not allowed("internal.example", "10.0.0.0/8")
