"""Which network addresses a fetch may reach: the rules that keep web tools outside."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Carrier-grade NAT: not "private" to Python's ipaddress, and never the public internet.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64 prefixes embed an IPv4 address in their last 32 bits.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Cloud metadata services, named so a refusal says what it protects.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
# Names that mean "this machine" or "inside" on any resolver.
_INSIDE_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_INSIDE_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")


@dataclass(frozen=True, slots=True)
class HostEntry:
    """An `allowed_hosts`/`blocked_hosts` entry: a host, optionally with a port."""

    host: str
    port: int | None

    @classmethod
    def parse(cls, entry: str) -> HostEntry:
        text = entry.strip().lower().rstrip(".")
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
        elif text.count(":") == 1:
            host, port = text.split(":")
        else:
            host, port = text, ""
        if not host or (port and not port.isdigit()):
            raise ValueError(f"{entry!r} is not a host or host:port")
        return cls(host, int(port) if port else None)

    def matches(self, host: str, port: int) -> bool:
        return self.host == host and (self.port is None or self.port == port)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host spelling names, the way C's inet_aton reads it too: dotted
    quads, but also `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`; IPv6 in brackets or
    not. None when the host is a name."""
    text = host.strip().strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    try:
        numbers = [_c_integer(part) for part in parts]
    except ValueError:
        return None
    # The last part fills the remaining bytes: a.b.c.d, a.b.(16 bits), a.(24 bits), (32 bits).
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, byte in enumerate(leading):
        value |= byte << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _c_integer(part: str) -> int:
    if not part:
        raise ValueError("empty")
    lowered = part.lower()
    if lowered.startswith("0x"):
        return int(lowered[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    if not part.isdigit():
        raise ValueError(part)
    return int(part)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    # IPv4-compatible (::a.b.c.d), deprecated but still routed by some stacks.
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address))
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why a fetch may not connect to `address`, or None when it is on the public internet."""
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = forbidden_reason(inner)
        return f"{reason} (inside {address})" if reason else None
    if address in _METADATA:
        return "a cloud metadata address"
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "a carrier-grade NAT"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((why for bad, why in checks if bad), None)


def inside_name(host: str) -> bool:
    """Whether a host name means this machine or a private network by its name alone."""
    name = host.lower().rstrip(".")
    return name in _INSIDE_NAMES or name.endswith(_INSIDE_SUFFIXES) or "." not in name


def listed(entries: Iterable[HostEntry], host: str, port: int) -> bool:
    return any(entry.matches(host.lower().rstrip("."), port) for entry in entries)


def blocked(entries: Iterable[HostEntry], host: str, port: int) -> bool:
    """A blocked entry covers its subdomains too (blocking `example.com` blocks `a.example.com`)."""
    name = host.lower().rstrip(".")
    return any(
        (name == e.host or name.endswith("." + e.host)) and (e.port is None or e.port == port)
        for e in entries
    )


def configured_server_refusal(address: IPAddress) -> str | None:
    """Why a server named in config (an MCP server's URL) may not be reached at
    `address`. Naming it is an allowance for loopback and private networks (a home
    server), never for metadata services, link-local, unspecified or multicast ones."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return configured_server_refusal(inner)
    if address in _METADATA:
        return "a cloud metadata address"
    checks = (
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
    )
    return next((why for bad, why in checks if bad), None)
