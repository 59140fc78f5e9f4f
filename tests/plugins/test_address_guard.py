"""The webhook transport's destination-address classifier (the plugin API's shared one, in
backchannel.plugin_support), checked without opening a connection.

Only loopback is ever connected to (in test_webhook_transport.py); every other range is
proved here by calling the classifier, so no test sends a packet off this machine.
"""

from __future__ import annotations

import socket
from ipaddress import ip_address, ip_network

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from backchannel.outbound import admitted_addresses
from backchannel.outbound_allowlist import parse_allowlist
from backchannel.plugin_support import (
    AllowedDestination,
    DestinationRefused,
    address_literal,
    refusal_reason,
)
from backchannel.plugin_support.aiohttp import GuardedResolver


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.10", "reserved"),
    ],
)
def test_non_public_address_is_refused_with_its_range(address: str, reason: str) -> None:
    assert refusal_reason(ip_address(address)) == reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("2002:7f00:1::1", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
    ],
)
def test_ipv6_wrapping_an_ipv4_address_is_judged_by_the_ipv4_address(
    address: str, reason: str
) -> None:
    assert refusal_reason(ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_address_is_allowed(address: str) -> None:
    assert refusal_reason(ip_address(address)) is None


def test_allowed_network_admits_an_otherwise_refused_address() -> None:
    assert refusal_reason(ip_address("10.1.2.3"), [ip_network("10.0.0.0/8")]) is None


def test_allowed_network_admits_only_its_own_range() -> None:
    allowed = [ip_network("127.0.0.0/8"), ip_network("::1/128")]
    assert refusal_reason(ip_address("10.1.2.3"), allowed) == "private"
    assert refusal_reason(ip_address("fe80::1"), allowed) == "link-local"


def test_allowed_ipv4_network_admits_its_ipv4_mapped_spelling() -> None:
    assert refusal_reason(ip_address("::ffff:127.0.0.1"), [ip_network("127.0.0.0/8")]) is None


def test_address_with_zone_is_judged_by_its_range() -> None:
    assert refusal_reason("fe80::1%eth0") == "link-local"


def test_text_that_is_not_an_address_is_refused() -> None:
    assert refusal_reason("localhost") == "not an IP address"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.0.0.1."]
)
def test_every_ipv4_spelling_reads_as_its_address(host: str) -> None:
    assert address_literal(host) == ip_address("127.0.0.1")


def test_ipv6_literal_in_brackets_reads_as_its_address() -> None:
    assert address_literal("[::ffff:127.0.0.1]") == ip_address("::ffff:127.0.0.1")


@pytest.mark.parametrize("host", ["localhost", "example.com", "0x7g", "1.2.3.4.5"])
def test_host_name_is_not_an_address_literal(host: str) -> None:
    assert address_literal(host) is None


class _FixedAnswers(AbstractResolver):
    """Answers every lookup with the same addresses, as a DNS server under an attacker's
    control could."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for address in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_guarded_resolver_keeps_only_the_admitted_addresses() -> None:
    resolver = GuardedResolver(_FixedAnswers("10.0.0.1", "93.184.216.34", "fd00:ec2::254"))
    results = await resolver.resolve("rebinding.example", 443)
    assert [result["host"] for result in results] == ["93.184.216.34"]


async def test_guarded_resolver_refuses_a_name_with_only_refused_addresses() -> None:
    resolver = GuardedResolver(_FixedAnswers("169.254.169.254", "127.0.0.1"))
    with pytest.raises(DestinationRefused) as refused:
        await resolver.resolve("metadata.example", 80)
    assert refused.value.reason == "cloud metadata"
    assert str(refused.value) == "refused: destination address is cloud metadata (not allowlisted)"


async def test_guarded_resolver_passes_allowlisted_addresses() -> None:
    resolver = GuardedResolver(_FixedAnswers("127.0.0.1"), [ip_network("127.0.0.0/8")])
    results = await resolver.resolve("localhost", 80)
    assert [result["host"] for result in results] == ["127.0.0.1"]


# --- the operator's allowlist: ports, and metadata listed exactly ------------------------


def allow(*entries: str) -> tuple[AllowedDestination, ...]:
    return parse_allowlist(",".join(entries))


@pytest.mark.parametrize(
    ("entry", "address", "port", "admitted"),
    [
        ("127.0.0.1:8089", "127.0.0.1", 8089, True),
        ("127.0.0.1:8089", "127.0.0.1", 8090, False),
        ("127.0.0.1:8089", "127.0.0.1", None, False),
        ("127.0.0.1:8089", "127.0.0.2", 8089, False),
        ("10.0.0.0/8:443", "10.20.30.40", 443, True),
        ("10.0.0.0/8:443", "10.20.30.40", 80, False),
        ("[::1]:8089", "::1", 8089, True),
        ("[::1]:8089", "::1", 22, False),
        ("[fd00::/8]:443", "fd12::1", 443, True),
        ("127.0.0.1/32", "127.0.0.1", 22, True),
        ("::1", "::1", 22, True),
    ],
)
def test_an_entry_with_a_port_admits_only_that_port(
    entry: str, address: str, port: int | None, admitted: bool
) -> None:
    reason = refusal_reason(ip_address(address), allow(entry), port)
    assert (reason is None) == admitted, reason


@pytest.mark.parametrize(
    ("entries", "address"),
    [
        (("169.254.0.0/16",), "169.254.169.254"),
        (("0.0.0.0/0",), "169.254.169.254"),
        (("169.254.0.0/16:80",), "169.254.169.254"),
        (("fc00::/7",), "fd00:ec2::254"),
        (("100.64.0.0/10",), "100.100.100.200"),
        (("169.254.0.0/16",), "::ffff:169.254.169.254"),
        (("169.254.169.253",), "169.254.169.254"),
    ],
)
def test_a_covering_range_never_opens_a_metadata_address(
    entries: tuple[str, ...], address: str
) -> None:
    assert refusal_reason(ip_address(address), allow(*entries), 80) == "cloud metadata"


def test_a_covering_range_still_opens_its_other_addresses() -> None:
    assert refusal_reason(ip_address("169.254.1.1"), allow("169.254.0.0/16"), 80) is None


@pytest.mark.parametrize(
    ("entry", "port", "admitted"),
    [
        ("169.254.169.254", 80, True),
        ("169.254.169.254/32", 80, True),
        ("169.254.169.254:80", 80, True),
        ("169.254.169.254:80", 443, False),
    ],
)
def test_a_metadata_address_listed_exactly_is_admitted(
    entry: str, port: int, admitted: bool
) -> None:
    reason = refusal_reason(ip_address("169.254.169.254"), allow(entry), port)
    assert (reason is None) == admitted


async def test_the_guard_resolves_only_to_allowlisted_ports() -> None:
    allowed = allow("127.0.0.1:8089")
    assert await admitted_addresses("127.0.0.1", 8089, allowed) == ["127.0.0.1"]
    with pytest.raises(DestinationRefused) as refused:
        await admitted_addresses("127.0.0.1", 8090, allowed)
    assert refused.value.reason == "loopback"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1:8089", ("127.0.0.1/32", 8089)),
        ("10.0.0.0/8", ("10.0.0.0/8", None)),
        ("10.1.0.0/16:443", ("10.1.0.0/16", 443)),
        ("[::1]:8089", ("::1/128", 8089)),
        ("fd00::/8", ("fd00::/8", None)),
        ("::1", ("::1/128", None)),
    ],
)
def test_allowlist_entries_are_read(text: str, parsed: tuple[str, int | None]) -> None:
    (entry,) = parse_allowlist(text)
    assert (str(entry.network), entry.port) == parsed


@pytest.mark.parametrize(
    "text", ["localhost:8089", "127.0.0.1:0", "127.0.0.1:99999", "[::1]", "10.0.0.0/8:x"]
)
def test_an_unreadable_allowlist_entry_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected|port"):
        parse_allowlist(text)
