"""Port: a host name to its addresses, looked up once per connection a web tool makes."""

from __future__ import annotations

from typing import Protocol

from minibot.core.address_rules import IPAddress


class HostResolver(Protocol):
    """`resolve` returns every address the name has now (IPv4 and IPv6), or raises
    OSError when it has none. The caller checks them and connects to one of those it
    checked: it never asks again for the same connection."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]: ...
