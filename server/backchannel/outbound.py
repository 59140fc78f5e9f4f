"""Which destination addresses an outbound connection may reach, and connections that go
only there: the guard the host puts in every transport's ``TransportContext``.

Recipient settings are untrusted: a host (or a name it resolves to) may point at this
machine, the private network or a cloud metadata service. :func:`refusal_reason` classifies
one address. :func:`admitted_addresses`, :func:`connect` and :func:`http_connector` apply it
to every address a connection is about to go to, and connect to the address they checked,
so a second DNS answer cannot change where the connection lands. Transports get them
through their context (``context.resolve``, ``context.connect``,
``context.http_connector``), with the operator's allowlist (addresses and ranges, each
optionally for one port; see :mod:`backchannel.outbound_allowlist`) already applied.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from backchannel.outbound_allowlist import (
    Allowed,
    AllowedDestination,
    IPAddress,
    IPNetwork,
    is_allowed,
)

__all__ = ["Allowed", "AllowedDestination", "IPAddress", "IPNetwork"]

_METADATA = "cloud metadata"


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Checked in order: the first range an address falls in names the reason it is refused.
_REFUSED_RANGES: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    (_METADATA, _networks("169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32")),
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


def is_allowlisted(address: IPAddress, allowed_networks: Allowed, port: int | None = None) -> bool:
    """Whether an entry of ``allowed_networks`` admits ``address`` (on ``port``, when the
    entry names one; an entry with a port never admits an unknown port)."""
    return is_allowed(address, allowed_networks, port)


def refusal_reason(
    address: IPAddress | str, allowed_networks: Allowed = (), port: int | None = None
) -> str | None:
    """Why an outbound connection to ``address`` (on ``port``, when known) is refused, or
    None when it may go ahead.

    The reason names the range (``"loopback"``, ``"private"``, ``"cloud metadata"``...).
    An IPv6 address that only wraps an IPv4 one (``::ffff:a.b.c.d``, 6to4, NAT64) is judged by
    that IPv4 address, and a zone (``fe80::1%eth0``) is ignored. ``allowed_networks`` (ranges,
    or :class:`AllowedDestination` entries with a port) admits destinations that would
    otherwise be refused, but a cloud metadata address only when an entry names exactly it.
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
        embedded = embedded_ipv4(address)
        if embedded is not None:
            address = embedded
    if _in_any(address, _REFUSED_RANGES[0][1]):
        exactly_listed = is_allowed(address, allowed_networks, port, exactly=True)
        return None if exactly_listed else _METADATA
    if is_allowed(address, allowed_networks, port):
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


async def admitted_addresses(host: str, port: int, allowed_networks: Allowed) -> list[str]:
    """The addresses ``host`` stands for (resolved once, or the address it spells) that may
    be reached, in the resolver's order; connect to one of these, not to ``host``. Raises
    :class:`DestinationRefused` when every address is refused, ``OSError`` (a
    ``socket.gaierror``) when the name does not resolve."""
    literal = address_literal(host)
    if literal is not None:
        candidates = [literal]
    else:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        candidates = [ipaddress.ip_address(str(info[4][0])) for info in infos]
    admitted: list[str] = []
    first_refusal: DestinationRefused | None = None
    for candidate in candidates:
        reason = refusal_reason(candidate, allowed_networks, port)
        if reason is None:
            if str(candidate) not in admitted:
                admitted.append(str(candidate))
        elif first_refusal is None:
            first_refusal = DestinationRefused(reason, str(candidate))
    if admitted:
        return admitted
    raise first_refusal or DestinationRefused("unknown")


async def connect(host: str, port: int, allowed_networks: Allowed) -> socket.socket:
    """A non-blocking TCP socket connected to an admitted address of ``host`` (tried in
    order); the caller bounds the time. Raises what :func:`admitted_addresses` raises, and
    the last ``OSError`` when no admitted address accepts."""
    loop = asyncio.get_running_loop()
    error: OSError = OSError("no address of the destination accepted the connection")
    for address in await admitted_addresses(host, port, allowed_networks):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (address, port))
        except OSError as failed:
            sock.close()
            error = failed
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error


class GuardedResolver(AbstractResolver):
    """Resolves with another resolver, then keeps only the addresses that may be reached.

    Raises :class:`DestinationRefused` (with the first refused address) when every address
    is refused.
    """

    def __init__(self, inner: AbstractResolver, allowed_networks: Allowed = ()) -> None:
        self._inner = inner
        self._allowed_networks = tuple(allowed_networks)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        admitted: list[ResolveResult] = []
        first_refusal: DestinationRefused | None = None
        for result in results:
            reason = refusal_reason(result["host"], self._allowed_networks, result["port"])
            if reason is None:
                admitted.append(result)
            elif first_refusal is None:
                first_refusal = DestinationRefused(reason, result["host"])
        if admitted:
            return admitted
        if first_refusal is not None:
            raise first_refusal
        # The host stays out of the message: it may be part of a secret URL.
        raise OSError("no address found for the endpoint's host")

    async def close(self) -> None:
        await self._inner.close()


AddressInfo = tuple[Any, Any, int, str, tuple[Any, ...]]


def guarded_socket_factory(allowed_networks: Allowed) -> Callable[[AddressInfo], socket.socket]:
    """A socket factory for aiohttp's connector that refuses every address the guard
    refuses. aiohttp connects to a host spelled as an address without resolving it, so
    :class:`GuardedResolver` never sees those; every connection passes through here."""

    def open_socket(address_info: AddressInfo) -> socket.socket:
        family, kind, protocol, _, sockaddr = address_info
        reason = refusal_reason(str(sockaddr[0]), allowed_networks, int(sockaddr[1]))
        if reason is not None:
            raise DestinationRefused(reason, str(sockaddr[0]))
        return socket.socket(family, kind, protocol)

    return open_socket


def http_connector(allowed_networks: Allowed, **options: Any) -> aiohttp.TCPConnector:
    """An aiohttp connector whose every connection goes to an admitted address: names are
    resolved through :class:`GuardedResolver` and each address is checked again where the
    socket is made. ``options`` are ``aiohttp.TCPConnector``'s (``limit``...)."""
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(aiohttp.ThreadedResolver(), allowed_networks),
        socket_factory=guarded_socket_factory(allowed_networks),
        **options,
    )
