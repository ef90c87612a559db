"""An aiohttp resolver that answers only with addresses already checked for this hop."""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult

from minibot.core.address_rules import IPAddress


class PinnedResolver(AbstractResolver):
    """aiohttp asks its resolver when it connects; this one never looks anything up. It
    returns the addresses the fetcher checked for the host of the current hop (so a
    second DNS answer can never be used), and fails for any other host."""

    def __init__(self) -> None:
        self._pins: dict[str, list[IPAddress]] = {}

    def pin(self, host: str, addresses: list[IPAddress]) -> None:
        self._pins[_key(host)] = list(addresses)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self._pins.get(_key(host))
        if not addresses:
            raise OSError(f"{host} was not checked for this connection")
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


def _key(host: str) -> str:
    return host.strip("[]").lower().rstrip(".")
