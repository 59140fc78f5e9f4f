"""Which address an SFTP connection goes to: resolved once, checked, then pinned.

A recipient's host is untrusted like any outbound destination: it may name this machine,
the private network or a cloud metadata service. Unless the host's
``TransportContext.allowed_networks`` admits it, an address that is not globally routable
is refused before any packet is sent to it (``backchannel.plugin_support.refusal_reason``,
the classifier every transport uses, which also sees through IPv6 spellings of IPv4
addresses such as NAT64 and 6to4). The connection then goes to the address that was
checked, so a second DNS answer cannot change where it lands.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence

from backchannel.plugin import IPNetwork
from backchannel.plugin_support import DestinationRefused, IPAddress, refusal_reason


async def pinned_address(host: str, port: int, allowed_networks: Sequence[IPNetwork]) -> str:
    """The first address ``host`` resolves to that may be reached; raises
    :class:`DestinationRefused` when there is none, ``OSError`` when resolution fails."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        candidates: list[IPAddress] = [literal]
    else:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        candidates = [ipaddress.ip_address(info[4][0]) for info in infos]
    first_reason: str | None = None
    for candidate in candidates:
        reason = refusal_reason(candidate, allowed_networks)
        if reason is None:
            return str(candidate)
        first_reason = first_reason or reason
    raise DestinationRefused(first_reason or "unknown")
