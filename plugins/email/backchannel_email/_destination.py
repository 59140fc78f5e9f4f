"""Which SMTP server addresses the transport may reach, checked where the socket connects.

A recipient's host is untrusted, like a webhook URL: it (or a name it resolves to) may point
at this machine, the private network or a cloud metadata service. The host is resolved here,
every address is judged, and the socket is connected to an admitted address, which
aiosmtplib then uses as it is (the address is pinned; TLS still checks the host name).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_METADATA = (
    ipaddress.ip_network("169.254.169.254/32"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("100.100.100.200/32"),
)
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(OSError):
    """The host resolved only to addresses the transport may not reach."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refused: destination address is {reason} (not allowlisted)")
        self.reason = reason


def refusal_reason(address: IPAddress, allowed_networks: Sequence[IPNetwork] = ()) -> str | None:
    """Why connecting to ``address`` is refused, or None when it may go ahead.

    An IPv6 address that only wraps an IPv4 one (``::ffff:a.b.c.d``, 6to4, NAT64) is judged by
    that IPv4 address. ``allowed_networks`` admits ranges that would otherwise be refused.
    """
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(int(address))  # without a zone (fe80::1%eth0)
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.sixtofour is not None:
            address = address.sixtofour
        elif address in _NAT64_PREFIX:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address.version == net.version and address in net for net in allowed_networks):
        return None
    checks = (
        (
            "cloud metadata",
            any(address in net for net in _METADATA if net.version == address.version),
        ),
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved or not address.is_global),
    )
    return next((reason for reason, refused in checks if refused), None)


async def connect_socket(
    host: str, port: int, allowed_networks: Sequence[IPNetwork]
) -> socket.socket:
    """A TCP socket connected to an admitted address of ``host``; the caller bounds the time.

    Raises :class:`DestinationRefused` when every address is refused, ``socket.gaierror``
    when the name does not resolve and ``OSError`` when no admitted address accepts.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    admitted: list[tuple[socket.AddressFamily, Any]] = []
    refusal: str | None = None
    for info in infos:
        reason = refusal_reason(ipaddress.ip_address(str(info[4][0])), allowed_networks)
        if reason is None:
            if (info[0], info[4]) not in admitted:
                admitted.append((info[0], info[4]))
        elif refusal is None:
            refusal = reason
    if not admitted:
        raise DestinationRefused(refusal or "unknown")
    error = OSError(f"no address of {host} accepted the connection")
    for family, sockaddr in admitted:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, sockaddr)
        except OSError as failed:
            sock.close()
            error = failed
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error
