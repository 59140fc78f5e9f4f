"""Which addresses the Teams transport may connect to, enforced where sockets connect.

A Workflows URL is untrusted input like any other: it (or a name it resolves to) may point at
this machine, the private network or a cloud metadata service. :func:`refusal_reason`
classifies one address; :class:`GuardedResolver` applies it to every name aiohttp resolves, so
the connection goes to an address that was checked (aiohttp connects to the resolved address:
it is pinned). aiohttp does not resolve hosts that already look like IP addresses, so the
transport checks those itself with :func:`address_literal` before it connects.

A private copy of the webhook plugin's guard: plugins never import one another.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where it is only a wrapper around one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(
    address: IPAddress | str, allowed_networks: Sequence[IPNetwork] = ()
) -> str | None:
    """Why a connection to ``address`` is refused, or None when it may go ahead.

    An IPv6 address that only wraps an IPv4 one (``::ffff:a.b.c.d``, 6to4, NAT64) is judged by
    that IPv4 address. ``allowed_networks`` admits ranges that would otherwise be refused.
    A string that is not an IP address is refused: only addresses are classified here.
    """
    if isinstance(address, str):
        try:
            address = ipaddress.ip_address(address)
        except ValueError:
            return "not an IP address"
    if isinstance(address, ipaddress.IPv6Address):
        # A zone (fe80::1%eth0) does not change which range the address is in.
        address = address if address.scope_id is None else ipaddress.IPv6Address(int(address))
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            address = embedded
    if any(address.version == net.version and address in net for net in allowed_networks):
        return None
    for reason, networks in _REFUSED_RANGES:
        if any(address.version == net.version and address in net for net in networks):
            return reason
    if not address.is_global or address.is_reserved:
        return "reserved"
    return None


def looks_like_address_literal(host: str) -> bool:
    """Whether aiohttp treats ``host`` as an address and so never asks the resolver about it."""
    return ":" in host or host.rstrip(".").replace(".", "").isdigit()


def address_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any spelling the C library accepts, or None for a name.

    Besides the canonical forms this reads what ``inet_aton`` reads: ``127.1``,
    ``2130706433``, ``0x7f000001``, ``0177.0.0.1``.
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
    """The destination resolved only to addresses the transport may not reach."""

    def __init__(self, reason: str) -> None:
        # The address stays out of the message: it would tell where a secret URL points.
        super().__init__(f"refused: destination address is {reason} (not allowlisted)")
        self.reason = reason


class GuardedResolver(AbstractResolver):
    """Resolves with another resolver, then keeps only the addresses that may be reached."""

    def __init__(self, inner: AbstractResolver, allowed_networks: Sequence[IPNetwork] = ()) -> None:
        self._inner = inner
        self._allowed_networks = tuple(allowed_networks)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        reasons = [refusal_reason(result["host"], self._allowed_networks) for result in results]
        admitted = [result for result, reason in zip(results, reasons, strict=True) if not reason]
        if admitted:
            return admitted
        if reasons:
            raise DestinationRefused(str(reasons[0]))
        raise OSError("no address found for the endpoint's host")

    async def close(self) -> None:
        await self._inner.close()
