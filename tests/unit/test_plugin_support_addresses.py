"""backchannel.plugin_support's address guard: which outbound addresses are refused, and why."""

from __future__ import annotations

from ipaddress import IPv6Address, ip_address, ip_network

import pytest

from backchannel.plugin_support import (
    DestinationRefused,
    address_literal,
    embedded_ipv4,
    is_allowlisted,
    looks_like_address_literal,
    refusal_reason,
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("169.254.1.1", "link-local"),
        ("fd12::1", "unique-local"),
        ("239.1.1.1", "multicast"),
        ("0.1.2.3", "this-network"),
        ("255.255.255.255", "broadcast"),
        ("192.0.2.1", "reserved"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_non_public_address_is_refused_naming_its_range(address: str, reason: str) -> None:
    assert refusal_reason(address) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_address_may_be_reached(address: str) -> None:
    assert refusal_reason(ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "wrapped"),
    [
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("2002:a9fe:a9fe::1", "169.254.169.254"),
        ("64:ff9b::7f00:1", "127.0.0.1"),
    ],
)
def test_ipv6_that_wraps_ipv4_is_judged_as_the_ipv4_address(address: str, wrapped: str) -> None:
    assert embedded_ipv4(IPv6Address(address)) == ip_address(wrapped)
    assert refusal_reason(address) == refusal_reason(wrapped)


def test_native_ipv6_wraps_no_ipv4_address() -> None:
    assert embedded_ipv4(IPv6Address("2606:4700::1111")) is None


def test_zone_does_not_change_the_range() -> None:
    assert refusal_reason("fe80::1%eth0") == "link-local"


def test_text_that_is_not_an_address_is_refused() -> None:
    assert refusal_reason("metadata.google.internal") == "not an IP address"


def test_allowlist_admits_its_own_range_only() -> None:
    allowed = [ip_network("10.0.0.0/8")]
    assert refusal_reason("10.1.2.3", allowed) is None
    assert refusal_reason("::ffff:10.1.2.3", allowed) is None
    assert refusal_reason("192.168.1.1", allowed) == "private"


def test_allowlist_of_one_ip_version_never_matches_the_other() -> None:
    assert not is_allowlisted(ip_address("::1"), [ip_network("0.0.0.0/0")])
    assert is_allowlisted(ip_address("::1"), [ip_network("::/0")])


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1"])
def test_every_spelling_of_an_ipv4_address_reads_as_it(host: str) -> None:
    assert address_literal(host) == ip_address("127.0.0.1")


def test_bracketed_ipv6_reads_as_its_address() -> None:
    assert address_literal("[::1]") == ip_address("::1")


@pytest.mark.parametrize("host", ["example.com", "localhost", "1.2.3.4.5", "12 7.0.0.1", ""])
def test_a_name_is_not_an_address_literal(host: str) -> None:
    assert address_literal(host) is None


@pytest.mark.parametrize(
    ("host", "looks_like_one"),
    [("1.2.3.4.5", True), ("::zz", True), ("127.0.0.1.", True), ("a1.example", False)],
)
def test_what_http_clients_take_for_an_address(host: str, looks_like_one: bool) -> None:
    assert looks_like_address_literal(host) is looks_like_one


def test_refusal_names_the_reason_but_never_the_address() -> None:
    refused = DestinationRefused("private", "10.9.8.7")
    assert str(refused) == "refused: destination address is private (not allowlisted)"
    assert refused.reason == "private"
    assert refused.address == "10.9.8.7"
    assert isinstance(refused, OSError)
