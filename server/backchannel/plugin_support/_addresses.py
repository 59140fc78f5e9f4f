"""Which destination addresses an outbound connection may reach.

Recipient settings are untrusted: a host (or a name it resolves to) may point at this
machine, the private network or a cloud metadata service. :func:`refusal_reason` classifies
one address; a transport applies it to every address it is about to connect to, and connects
to the address it checked, so a second DNS answer cannot change where the connection lands.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

from backchannel.plugin import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Checked in order: the first range an address falls in names the reason it is refused.
_REFUSED_RANGES: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    ("cloud metadata", _networks("169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32")),
    ("unspecified", _networks("0.0.0.0/32", "::/128")),
    ("loopback", _networks("127.0.0.0/8", "::1/128")),
    ("private", _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    ("carrier-grade NAT", _networks("100.64.0.0/10")),
    ("link-local", _networks("169.254.0.0/16", "fe80::/10")),
    ("unique-local", _networks("fc00::/7")),
    ("multicast", _networks("224.0.0.0/4", "ff00::/8")),
    ("this-network", _networks("0.0.0.0/8")),
    ("broadcast", _networks("255.255.255.255/32")),
)

_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where it only wraps one: IPv4-mapped
    (``::ffff:a.b.c.d``), 6to4 (``2002::/16``) or NAT64 (``64:ff9b::/96``)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _in_any(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def is_allowlisted(address: IPAddress, allowed_networks: Sequence[IPNetwork]) -> bool:
    """Whether ``address`` falls in one of ``allowed_networks`` (of its own IP version)."""
    return _in_any(address, allowed_networks)


def refusal_reason(
    address: IPAddress | str, allowed_networks: Sequence[IPNetwork] = ()
) -> str | None:
    """Why an outbound connection to ``address`` is refused, or None when it may go ahead.

    The reason names the range (``"loopback"``, ``"private"``, ``"cloud metadata"``...).
    An IPv6 address that only wraps an IPv4 one (``::ffff:a.b.c.d``, 6to4, NAT64) is judged by
    that IPv4 address, and a zone (``fe80::1%eth0``) is ignored. ``allowed_networks`` admits
    ranges that would otherwise be refused. A string that is not an IP address is refused:
    only addresses are classified here.
    """
    if isinstance(address, str):
        try:
            address = ipaddress.ip_address(address)
        except ValueError:
            return "not an IP address"
    if isinstance(address, ipaddress.IPv6Address):
        # A zone (fe80::1%eth0) does not change which range the address is in.
        address = address if address.scope_id is None else ipaddress.IPv6Address(int(address))
        embedded = embedded_ipv4(address)
        if embedded is not None:
            address = embedded
    if is_allowlisted(address, allowed_networks):
        return None
    for reason, networks in _REFUSED_RANGES:
        if _in_any(address, networks):
            return reason
    if not address.is_global or address.is_reserved:
        return "reserved"
    return None


def looks_like_address_literal(host: str) -> bool:
    """Whether ``host`` is spelled like an IP address (has a colon, or only digits and dots):
    HTTP clients such as aiohttp connect to such a host without resolving it."""
    return ":" in host or host.rstrip(".").replace(".", "").isdigit()


def address_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any spelling the C library accepts, or None for a name.

    Besides the canonical forms (an IPv6 address may be in brackets) this reads what
    ``inet_aton`` reads: ``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``.
    """
    candidate = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        pass
    if ":" in candidate or not candidate or any(c.isspace() for c in candidate):
        return None
    try:
        packed = socket.inet_aton(candidate)
    except OSError:
        return None
    return ipaddress.IPv4Address(packed)


class DestinationRefused(OSError):
    """The destination has only addresses the transport may not reach.

    The message names the reason, never the address: it would tell where a secret URL
    points. ``address``, when given, is the first refused address, for a transport to show
    only where the destination is not a secret.
    """

    def __init__(self, reason: str, address: str | None = None) -> None:
        super().__init__(f"refused: destination address is {reason} (not allowlisted)")
        self.reason = reason
        self.address = address
