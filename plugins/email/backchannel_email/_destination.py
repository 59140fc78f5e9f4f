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

from backchannel.plugin import IPNetwork
from backchannel.plugin_support import DestinationRefused, refusal_reason


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
