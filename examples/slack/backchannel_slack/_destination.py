"""Which addresses a webhook URL may reach: loopback, private, link-local, metadata and other
non-public addresses are refused unless ``TransportContext.allowed_networks`` admits them.

Names are checked where aiohttp resolves them (:class:`GuardedResolver`), so the connection
goes to the address that was checked; address literals, which aiohttp never resolves, are
checked before connecting with :func:`refusal_reason`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult

from backchannel.plugin import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))


def refusal_reason(address: str, allowed_networks: Sequence[IPNetwork]) -> str | None:
    """Why connecting to ``address`` is refused, or None when it may go ahead."""
    try:
        parsed: IPAddress = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if any(parsed.version == net.version and parsed in net for net in allowed_networks):
        return None
    if parsed in _METADATA:
        return "a cloud metadata address"
    if parsed.is_loopback:
        return "a loopback address"
    if parsed.is_link_local:
        return "a link-local address"
    if parsed.is_private:
        return "a private address"
    if not parsed.is_global or parsed.is_multicast:
        return "not a public address"
    return None


def address_literal(host: str) -> str | None:
    """``host`` when it is an IP address (aiohttp connects to it without resolving)."""
    candidate = host.strip("[]")
    try:
        ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        return None
    return candidate


class DestinationRefused(OSError):
    """Every address of the destination is one outbound posts may not reach."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refused: the webhook's address is {reason} (not allowlisted)")


class GuardedResolver(AbstractResolver):
    """Resolves with another resolver and keeps only addresses that may be reached."""

    def __init__(self, inner: AbstractResolver, allowed_networks: Sequence[IPNetwork]) -> None:
        self._inner = inner
        self._allowed = tuple(allowed_networks)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        reasons = [refusal_reason(result["host"], self._allowed) for result in results]
        admitted = [result for result, reason in zip(results, reasons, strict=True) if not reason]
        if admitted:
            return admitted
        raise DestinationRefused(next((r for r in reasons if r), "unknown"))

    async def close(self) -> None:
        await self._inner.close()
