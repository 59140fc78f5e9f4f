"""The operator's outbound allowlist: which otherwise refused destinations a transport may
reach, as ranges and, when given, one port.

``BACKCHANNEL_OUTBOUND_ALLOW_NETWORKS`` is a comma-separated list of entries, each one of:

- ``10.0.0.0/8``, ``127.0.0.1``, ``fd00::/8``, ``::1``: every port of a range or address;
- ``127.0.0.1:8089``, ``10.1.0.0/16:443``: one port of an address or range;
- ``[::1]:8089``, ``[fd00::/8]:443``: the same for IPv6 (brackets, as in URLs).

Entries are addresses and ranges, never names: the guard judges the address a connection
is about to go to, so a name would have to be resolved again at every connection to mean
anything. An entry admits an address in its range (of its IP version) and, when it has
one, only on its port. A cloud metadata address (which the guard refuses before anything
else) is admitted only by an entry for exactly that address (``169.254.169.254``, with or
without a port), never by a wider range around it: allowlisting a link-local or private
range for an appliance must not open the credentials service beside it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AllowedDestination:
    """One allowlist entry: a range (a single address is a /32 or /128) and, optionally,
    the one port it admits."""

    network: IPNetwork
    port: int | None = None

    def admits(self, address: IPAddress, port: int | None, *, exactly: bool = False) -> bool:
        """Whether a connection to ``address`` on ``port`` (None: not known, so only an
        entry for every port admits it) is allowed. ``exactly``: only an entry for that
        one address admits it."""
        network = self.network
        if address.version != network.version or address not in network:
            return False
        if exactly and network.num_addresses != 1:
            return False
        return self.port is None or self.port == port

    def __str__(self) -> str:
        network = str(self.network)
        if self.network.num_addresses == 1:
            network = str(self.network.network_address)
        if self.port is None:
            return network
        return f"[{network}]:{self.port}" if self.network.version == 6 else f"{network}:{self.port}"


#: What ``allowed`` may hold: entries, or plain networks (every port), as plugins and
#: tests written before ports were possible give them.
Allowed = Sequence[AllowedDestination | IPNetwork]


def as_destination(entry: AllowedDestination | IPNetwork) -> AllowedDestination:
    return entry if isinstance(entry, AllowedDestination) else AllowedDestination(entry)


def is_allowed(
    address: IPAddress, allowed: Allowed, port: int | None = None, *, exactly: bool = False
) -> bool:
    """Whether an entry of ``allowed`` admits ``address`` on ``port``."""
    return any(as_destination(entry).admits(address, port, exactly=exactly) for entry in allowed)


def parse_allowed_destination(text: str) -> AllowedDestination:
    """One entry (see the module's docstring); ValueError says what is wrong with it."""
    entry = text.strip()
    port: int | None = None
    if entry.startswith("["):
        inside, bracket, rest = entry[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected [IPv6 address or range]:port")
        entry, port = inside, _port(rest[1:], text)
    elif entry.count(":") == 1:
        entry, _, port_text = entry.partition(":")
        port = _port(port_text, text)
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError(
            f"{text!r}: expected an IP address or range, optionally with :port (e.g. "
            "10.0.0.0/8, 127.0.0.1:8089, [::1]:8089); names are not taken"
        ) from None
    return AllowedDestination(network, port)


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
    return int(text)


def parse_allowlist(text: str) -> tuple[AllowedDestination, ...]:
    """The comma-separated entries of ``text``; ValueError names the first bad one."""
    return tuple(parse_allowed_destination(part) for part in text.split(",") if part.strip())
